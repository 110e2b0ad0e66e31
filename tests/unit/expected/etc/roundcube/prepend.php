<?php
// Rendered by alumail (mailstack/daemons/php_fpm.py): Roundcube's plugins come from our folder.
define('RCUBE_PLUGINS_DIR', '/srv/alumail/state/etc/roundcube/plugins/');
