#!/bin/sh
# Dev certificates for the compose stack's mutual TLS with the Temporal frontend (docs/security.md):
#   ca.pem / ca.key              a dev CA (keep ca.key off every container; only ca.pem is mounted)
#   temporal.pem / temporal.key  the Temporal server (frontend and internode): DNS temporal, localhost
#   api.pem / api.key            the REST API's client certificate
#   worker.pem / worker.key      the workers' client certificate
#   admin.pem / admin.key        temporal-setup's and the Web UI's client certificate
# Usage: scripts/dev_certs.sh [directory]   (default deploy/certs; an existing CA there is reused,
# so re-running renews the leaf certificates without re-trusting anything). Needs openssl.
# For production, issue these from your own CA: the compose file only needs the same file names.
set -eu

out="${1:-deploy/certs}"
days="${DEV_CERT_DAYS:-365}"
mkdir -p "$out"
umask 077

key() {  # an EC P-256 key (small and fast; Temporal and the Python SDK accept it)
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

if [ ! -s "$out/ca.key" ] || [ ! -s "$out/ca.pem" ]; then
    key "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$((days * 3))" \
        -subj "/O=Pipeline Engine dev/CN=Pipeline Engine dev CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$out/ca.pem"
fi

leaf() {  # name, common name, extended key usage, subjectAltName (or "")
    name="$1" cn="$2" usage="$3" san="$4"
    ext="$out/$name.ext"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyAgreement"
        echo "extendedKeyUsage=$usage"
        echo "authorityKeyIdentifier=keyid"
        [ -n "$san" ] && echo "subjectAltName=$san"
    } > "$ext"
    key "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "/O=Pipeline Engine dev/CN=$cn" \
        -out "$out/$name.csr"
    openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
        -CAcreateserial -sha256 -days "$days" -extfile "$ext" -out "$out/$name.pem" 2>/dev/null
    rm -f "$out/$name.csr" "$ext"
}

# the server's certificate also authenticates it as a client: Temporal's own services (internode,
# the system worker) call the frontend with it
leaf temporal temporal "serverAuth,clientAuth" "DNS:temporal,DNS:localhost,IP:127.0.0.1"
leaf api pipeline-engine-api "clientAuth" ""
leaf worker pipeline-engine-worker "clientAuth" ""
leaf admin temporal-admin "clientAuth" ""
rm -f "$out/ca.srl"
chmod 644 "$out"/*.pem
# the containers run as other users than the one who ran this script: the keys they mount must be
# readable there (dev only: in production mount them as secrets owned by the service's user)
chmod 644 "$out/temporal.key" "$out/api.key" "$out/worker.key" "$out/admin.key"
for name in temporal api worker admin; do
    openssl verify -CAfile "$out/ca.pem" "$out/$name.pem" >/dev/null
done
echo "dev certificates in $out (CA: $out/ca.pem)"
