#!/usr/bin/env bash
# This machine's own secrets, outside the repository, each made once and kept (only what is missing is made):
#   $PANEL_SECRET_KEY_FILE       Django's secret key (0600)
#   $PANEL_PKI_DIR/ca.pem        a self-signed CA of this machine, 10 years (its key ca-key.pem, 0600)
#   $PANEL_PKI_DIR/node.pem      the node's server certificate, signed by that CA, 2 years (node-key.pem, 0600)
# The defaults are panel/settings/base.py's: /etc/panel/secret-key and /etc/panel/pki. The node certificate is
# made again when it is missing, expires within 30 days or no longer verifies against the CA. An admin's own
# certificate is given to the server with PANEL_TLS_CERT and PANEL_TLS_KEY; this script never touches those.
set -euo pipefail

ETC_DIR=${PANEL_ETC_DIR:-/etc/panel}
SECRET_KEY_FILE=${PANEL_SECRET_KEY_FILE:-$ETC_DIR/secret-key}
PKI_DIR=${PANEL_PKI_DIR:-$ETC_DIR/pki}
umask 077  # every file made here is private unless made public on purpose below

secret_key() {
    [ -s "$SECRET_KEY_FILE" ] && return
    mkdir -p "$(dirname "$SECRET_KEY_FILE")"
    local tmp="$SECRET_KEY_FILE.tmp"
    openssl rand -base64 48 | tr -d '\n' >"$tmp"  # 64 characters
    mv "$tmp" "$SECRET_KEY_FILE"
    echo "made the secret key $SECRET_KEY_FILE"
}

certificate_authority() {
    [ -s "$PKI_DIR/ca.pem" ] && [ -s "$PKI_DIR/ca-key.pem" ] && return
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI_DIR/ca-key.pem"
    openssl req -quiet -x509 -new -key "$PKI_DIR/ca-key.pem" -sha256 -days 3650 \
        -subj "/O=Panel/CN=Panel CA of $(hostname -s)" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$PKI_DIR/ca.pem"
    chmod 0644 "$PKI_DIR/ca.pem"
    rm -f "$PKI_DIR/node.pem"  # a new CA: the node certificate must be signed by it
    echo "made the certificate authority $PKI_DIR/ca.pem"
}

node_certificate_valid() {
    [ -s "$PKI_DIR/node.pem" ] && [ -s "$PKI_DIR/node-key.pem" ] &&
        openssl verify -CAfile "$PKI_DIR/ca.pem" "$PKI_DIR/node.pem" >/dev/null 2>&1 &&
        openssl x509 -checkend $((30 * 86400)) -noout -in "$PKI_DIR/node.pem" >/dev/null
}

node_certificate() {
    node_certificate_valid && return
    local names="DNS:localhost,IP:127.0.0.1,IP:::1" name address
    for name in $(hostname -s) $(hostname -f 2>/dev/null); do
        [[ ,$names, == *,DNS:$name,* ]] || names+=",DNS:$name"
    done
    for address in $(hostname -I 2>/dev/null); do  # the addresses other machines reach this one at
        [[ ,$names, == *,IP:$address,* ]] || names+=",IP:$address"
    done
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI_DIR/node-key.pem"
    openssl req -new -key "$PKI_DIR/node-key.pem" -subj "/O=Panel/CN=$(hostname -f 2>/dev/null || hostname -s)" |
        openssl x509 -req -CA "$PKI_DIR/ca.pem" -CAkey "$PKI_DIR/ca-key.pem" -set_serial "0x$(openssl rand -hex 16)" \
            -sha256 -days 730 -out "$PKI_DIR/node.pem" -extfile <(printf '%s\n' \
                "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
                "extendedKeyUsage=serverAuth" "subjectAltName=$names") 2>/dev/null
    chmod 0644 "$PKI_DIR/node.pem"
    echo "made the node certificate $PKI_DIR/node.pem ($names)"
}

[ -d "$ETC_DIR" ] || install -d -m 0755 "$ETC_DIR"
secret_key
[ -d "$PKI_DIR" ] || install -d -m 0755 "$PKI_DIR"  # certificates are public, the keys in it are not
certificate_authority
node_certificate
