"""One module per daemon of the stack: how to render its configuration, check it, start, stop,
reload it and ask whether it is ready (the verbs of :class:`mailstack.daemon.Daemon`)."""
