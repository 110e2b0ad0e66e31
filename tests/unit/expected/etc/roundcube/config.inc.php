<?php
// Rendered by alumail (mailstack/daemons/php_fpm.py): Roundcube for the alumni mail of
// alumni.sjtu.example. The rest is the package's defaults.inc.php, linked into this folder.
$config = [];

// Its own SQLite database, created on the first request.
$config['db_dsnw'] = 'sqlite:////srv/alumail/state/webmail/roundcube.db?mode=0600';
$config['temp_dir'] = '/srv/alumail/state/webmail/temp/';
$config['log_driver'] = 'file';
$config['log_dir'] = '/srv/alumail/state/webmail/log/';
// Each login with the browser's address (Dovecot sees only ours): log/userlogins.log.
$config['log_logins'] = true;
// Generated once by alumail into a file of its own, never written here.
$config['des_key'] = file_get_contents('/srv/alumail/state/webmail/des_key');

// Our Dovecot over IMAPS and our Postfix's submission with STARTTLS, the certificate checked
// against our CA for the name mail.alumni.sjtu.example.
$config['imap_host'] = 'ssl://127.0.0.1:10993';
$config['imap_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'peer_name' => 'mail.alumni.sjtu.example', 'cafile' => '/srv/alumail/state/tls/ca.crt']];
$config['imap_vendor'] = 'dovecot';
$config['smtp_host'] = 'tls://127.0.0.1:10587';
$config['smtp_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'peer_name' => 'mail.alumni.sjtu.example', 'cafile' => '/srv/alumail/state/tls/ca.crt']];
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
// A login by jAccount (UID) gets the address UID@alumni.sjtu.example; one identity, whose address
// the person cannot change (Postfix refuses senders the account does not own).
$config['mail_domain'] = 'alumni.sjtu.example';
$config['identities_level'] = 3;

$config['product_name'] = 'Alumni Webmail';
$config['support_url'] = 'http://127.0.0.1:10880';
// The browser's language when Roundcube has it, else English.
$config['language'] = null;
$config['skin'] = 'elastic';
$config['display_product_info'] = 0;
$config['useragent'] = 'Webmail';
$config['enable_spellcheck'] = false;
$config['enable_installer'] = false;
$config['login_autocomplete'] = 0;
$config['ip_check'] = true;
// message_size_limit: what Postfix accepts.
$config['max_message_size'] = 52428800;

// Single sign-on with the jAccount: the login page's "jAccount" button (and the portal's
// Mailbox link, http://127.0.0.1:10443/index.php/login/oauth) sign in through the provider as the
// trusted client alumail-webmail; the access token (scope mail) opens the mailbox over IMAP and
// submission with XOAUTH2. The browser goes to the public address; Roundcube itself calls the
// web service on this host, its certificate checked against the system's CAs.
$config['oauth_provider'] = 'generic';
$config['oauth_provider_name'] = 'jAccount';
$config['oauth_client_id'] = 'alumail-webmail';
$config['oauth_client_secret'] = 'webmail-secret';
$config['oauth_auth_uri'] = 'http://127.0.0.1:10880/oidc/authorize';
$config['oauth_token_uri'] = 'http://127.0.0.1:10880/oidc/token';
$config['oauth_identity_uri'] = 'http://127.0.0.1:10880/oidc/userinfo';
$config['oauth_scope'] = 'openid profile email mail';
// The UID: the name Dovecot's oauth2 passdb compares with the token's username.
$config['oauth_identity_fields'] = ['preferred_username'];
$config['oauth_verify_peer'] = true;
$config['oauth_login_redirect'] = false;
// alumail_sso (our plugin, in our own plugin folder): a session ends when the provider's does;
// signing out here signs out there.
$config['alumail_introspection_uri'] = 'http://127.0.0.1:10880/oidc/introspect';
$config['alumail_logout_uri'] = 'http://127.0.0.1:10880/oidc/logout';
$config['alumail_webmail_url'] = 'http://127.0.0.1:10443';

// filesystem_attachments and jqueryui, which Roundcube always loads, and alumail_sso.
$config['plugins'] = ['alumail_sso'];
