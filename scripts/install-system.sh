#!/usr/bin/env bash
# Installs the Debian packages alumail runs on, the system user that owns mail storage and the
# one the internet-facing processes (web service, outbound sink) run as.
# Idempotent: installs only what is missing and says so. Needs root on Debian 12.
set -euo pipefail

packages=(
  slapd ldap-utils
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-ldap
  postfix postfix-ldap
  opendkim opendkim-tools
  # the webmail: Debian's Roundcube (with its SQLite driver) on php-fpm behind nginx
  # (php8.2-curl: its OAuth client, Guzzle, calls the provider with curl)
  roundcube-core roundcube-sqlite3 php8.2-fpm php8.2-curl nginx-light
  openssl ca-certificates curl swaks libnet-ssleay-perl libio-socket-ssl-perl
  # python-ldap builds against OpenLDAP's own libldap
  libldap2-dev libsasl2-dev gcc python3-dev python3-venv
  # pymilter (the sender milter) builds against Sendmail's libmilter
  libmilter-dev
)
# `install-system.sh --test`: also what the test suite drives (Debian's Chromium, which
# Playwright runs through executable_path: no browser is ever downloaded).
if [[ ${1:-} == --test ]]; then
  packages+=(chromium)
  # A font with Han characters, so the Chinese pages' screenshots show text (test-output/i18n/).
  packages+=(fonts-wqy-microhei)
  # The production image's test builds and runs it: podman with runc (no Docker engine), and
  # debootstrap for its Debian base image (no image registry is reached).
  packages+=(podman runc debootstrap)
fi
# `install-system.sh --runtime`: what the stack runs on, without compilers or headers: the
# production image's last stage (its venv is built in an earlier stage and copied in).
if [[ ${1:-} == --runtime ]]; then
  build_only=" libldap2-dev libsasl2-dev gcc python3-dev python3-venv libmilter-dev "
  runtime=()
  for p in "${packages[@]}"; do
    [[ $build_only == *" $p "* ]] || runtime+=("$p")
  done
  # python3 for the venv; the shared libraries python-ldap and pymilter link against.
  packages=("${runtime[@]}" python3 libldap-2.5-0 libsasl2-2 libmilter1.0.1)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "alumail: missing Debian packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 2
  fi
  echo "alumail: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The distribution's own instances are not used: no postfix site config, no slapd database.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  # Roundcube keeps its database under the state directory: no dbconfig-common database.
  echo "roundcube-core roundcube/dbconfig-install boolean false" | debconf-set-selections
  # Keep the packages' system daemons from starting (alumail runs private instances), the way
  # container builds do; remove the guard only if we were the ones to place it.
  guard=/usr/sbin/policy-rc.d
  placed_guard=0
  if [[ ! -e $guard ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard" && placed_guard=1
  fi
  trap '[[ $placed_guard -eq 1 ]] && rm -f "$guard"' EXIT
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "alumail: Debian packages present" >&2
fi

# Mail storage belongs to one unprivileged system user, never to root or a login user.
if ! getent passwd vmail >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "alumail: system user 'vmail' is missing; run as root first" >&2
    exit 2
  fi
  useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin vmail
  echo "alumail: created system user vmail" >&2
fi

# The web service and the outbound sink drop from root to this user once their port is bound.
# postdrop is Postfix's group for local mail submission (the service hands it mail that way).
if ! getent passwd alumail >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "alumail: system user 'alumail' is missing; run as root first" >&2
    exit 2
  fi
  useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin alumail
  echo "alumail: created system user alumail" >&2
fi
if ! id -nG alumail | tr ' ' '\n' | grep -qx postdrop; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "alumail: user 'alumail' is not in group postdrop; run as root first" >&2
    exit 2
  fi
  usermod --append --groups postdrop alumail
  echo "alumail: added alumail to group postdrop" >&2
fi
