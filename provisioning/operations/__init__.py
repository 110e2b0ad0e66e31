"""Looking after the running service: verifying every login path with the harness, rotating and
retiring the DKIM signing keys. (The stack's verbs and its backup sit beside the composition
root, provisioning/stack.py and stackbackup.py: the web service is one of the stack's daemons,
so they stand apart from what the web service's root builds.)"""
