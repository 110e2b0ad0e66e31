<?php

/**
 * alumail_sso: Roundcube's sessions follow the jAccount provider's (shipped by alumail, installed
 * under the state directory by `alumail up`; configuration in config.inc.php, `alumail_*`).
 *
 * Roundcube 1.6 signs in through OAuth but never hears of the provider again: a person who signs
 * out of the portal, changes their password or is suspended would keep their webmail until the
 * access token expired. This plugin closes that gap and two others:
 *
 * - Each request of a session opened through the provider asks the provider (RFC 7662
 *   introspection, with the webmail's own client credentials) whether its access token is still
 *   active; when it is not, the session ends and the login page is shown. An expired token is
 *   refreshed first (a refused refresh ends the session too).
 * - Signing out of the webmail signs out of the provider as well (RP-initiated logout with the
 *   ID token as hint), which comes back to the webmail's own address.
 * - An OAuth callback this browser did not start (no state, or another state) is refused:
 *   Roundcube 1.6 accepts any state when its session holds none, which would let a page sign
 *   the browser in to someone else's mailbox.
 */
class alumail_sso extends rcube_plugin
{
    /** @var string|null the ID token of the session being signed out */
    private $id_token_hint = null;

    public function init()
    {
        $this->add_hook('startup', [$this, 'startup']);
        $this->add_hook('oauth_login', [$this, 'oauth_login']);
        $this->add_hook('logout_after', [$this, 'logout_after']);
    }

    public function startup($args)
    {
        $rcmail = rcmail::get_instance();

        if ($args['task'] == 'login' && $args['action'] == 'oauth' && isset($_GET['code'])) {
            $expected = isset($_SESSION['oauth_state']) ? (string) $_SESSION['oauth_state'] : '';
            $given = isset($_GET['state']) ? (string) $_GET['state'] : '';
            if ($expected === '' || !hash_equals($expected, $given)) {
                $rcmail->session->remove('oauth_state');
                $rcmail->output->show_message('oauthloginfailed', 'warning');
                $args['action'] = '';  // the login page, signed in to nothing
            }
            return $args;
        }

        if ($args['task'] == 'logout') {
            if (isset($_SESSION['alumail_id_token'])) {
                $this->id_token_hint = $rcmail->decrypt($_SESSION['alumail_id_token']);
            }
            return $args;
        }

        if (!empty($_SESSION['user_id']) && isset($_SESSION['oauth_token']['access_token'])) {
            if (!$this->still_signed_in($rcmail)) {
                $rcmail->kill_session();
                $rcmail->output->show_message('sessionerror', 'error');
            }
        }

        return $args;
    }

    /**
     * Whether the provider still stands behind this session: its access token is active (after
     * a refresh if it expired). Unreachable provider: the session stays (Dovecot checks the
     * token at each IMAP login anyway, and refuses it then).
     */
    private function still_signed_in($rcmail)
    {
        $token = $_SESSION['oauth_token'];
        if (!isset($token['expires']) || $token['expires'] < time()) {
            if ($rcmail->oauth->refresh_access_token($token) === false) {
                return !empty($_SESSION['user_id']);  // Roundcube ends it on a refused refresh
            }
            $token = $_SESSION['oauth_token'];
        }

        $config = $rcmail->config;
        try {
            $client = new \GuzzleHttp\Client([
                'timeout' => 5.0,
                'verify' => $config->get('oauth_verify_peer', true),
            ]);
            $response = $client->post($config->get('alumail_introspection_uri'), [
                'auth' => [$config->get('oauth_client_id'), $config->get('oauth_client_secret')],
                'form_params' => [
                    'token' => $token['access_token'],
                    'token_type_hint' => 'access_token',
                ],
            ]);
            $answer = json_decode((string) $response->getBody(), true);
        }
        catch (\Exception $e) {
            rcube::raise_error([
                'message' => 'alumail_sso: the provider did not answer the introspection: '
                    . get_class($e),
                'file' => __FILE__,
                'line' => __LINE__,
            ], true, false);
            return true;
        }

        return is_array($answer) && isset($answer['active']) && $answer['active'] === true;
    }

    public function oauth_login($args)
    {
        // Kept (encrypted, like Roundcube keeps the refresh token) for the logout's hint.
        if (!empty($args['id_token'])) {
            $_SESSION['alumail_id_token'] = rcmail::get_instance()->encrypt($args['id_token']);
        }
        return $args;
    }

    public function logout_after($args)
    {
        if ($this->id_token_hint) {
            $config = rcmail::get_instance()->config;
            $query = http_build_query([
                'id_token_hint' => $this->id_token_hint,
                'post_logout_redirect_uri' => $config->get('alumail_webmail_url') . '/',
            ]);
            header('Location: ' . $config->get('alumail_logout_uri') . '?' . $query);
            exit;
        }
        return $args;
    }
}
