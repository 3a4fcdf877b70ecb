# A throwaway two-tier PKI for the integration tests, built with `openssl ca`:
# a root CA and an issuing CA, each with its own database, serials and CRL
# numbers. Source after lib.sh (uses $T and fail).

# ca_conf DIR: write DIR/ca.cnf for the CA whose key and certificate are in DIR.
ca_conf() {
	local d=$1
	mkdir -p "$d/new"
	: >"$d/index.txt"
	[ -f "$d/serial" ] || echo 1000 >"$d/serial"
	[ -f "$d/crlnumber" ] || echo 01 >"$d/crlnumber"
	cat >"$d/ca.cnf" <<CNF
[ ca ]
default_ca = this
[ this ]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_crl_days = 7
policy = any
copy_extensions = none
unique_subject = no
x509_extensions = codesign
[ any ]
commonName = supplied
organizationName = optional
[ codesign ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[ tls ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[ subca ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
CNF
}

# pki_init: $T/root (self-signed) and $T/issuing (signed by root); $T/chain.pem holds both.
pki_init() {
	mkdir -p "$T/root" "$T/issuing"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/root/ca.key" -out "$T/root/ca.pem" \
		-days 3650 -subj "/CN=signerd test root" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	ca_conf "$T/root"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$T/issuing/ca.key" \
		-out "$T/issuing/ca.csr" -subj "/CN=signerd test issuing CA" 2>/dev/null
	openssl ca -batch -config "$T/root/ca.cnf" -extensions subca -days 3000 -notext \
		-in "$T/issuing/ca.csr" -out "$T/issuing/ca.pem" >/dev/null 2>&1 ||
		fail "openssl ca refused the issuing CA"
	ca_conf "$T/issuing"
	cat "$T/issuing/ca.pem" "$T/root/ca.pem" >"$T/chain.pem"
}

# ca_sign CA_DIR CSR OUT [START END] [EXTENSIONS]
ca_sign() {
	local args=(-batch -config "$1/ca.cnf" -in "$2" -out "$3" -notext)
	if [ -n "${4:-}" ]; then args+=(-startdate "$4" -enddate "$5"); else args+=(-days 400); fi
	[ -z "${6:-}" ] || args+=(-extensions "$6")
	openssl ca "${args[@]}" >/dev/null 2>&1 || fail "openssl ca refused $2"
}

# ca_crl CA_DIR OUT [extra openssl ca options, e.g. -crlsec 2]: a new CRL (DER),
# with the next CRL number.
ca_crl() {
	local d=$1 out=$2
	shift 2
	openssl ca -batch -config "$d/ca.cnf" -gencrl -out "$out.pem" "$@" >/dev/null 2>&1 ||
		fail "openssl ca -gencrl failed"
	openssl crl -in "$out.pem" -outform DER -out "$out"
	rm -f "$out.pem"
}

# ca_revoke CA_DIR CERT [REASON]
ca_revoke() {
	openssl ca -batch -config "$1/ca.cnf" -revoke "$2" -crl_reason "${3:-keyCompromise}" \
		>/dev/null 2>&1 || fail "openssl ca -revoke failed"
}

# token_cert LABEL CA_DIR [START END]: key on the token, CSR, issued, imported.
token_cert() {
	"$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label "$1" --type rsa:2048 >/dev/null
	"$BIN/signer" token csr "${TOKEN_ARGS[@]}" --label "$1" --subject "/CN=$1/O=signerd tests" \
		-o "$T/$1.csr" >/dev/null
	openssl req -in "$T/$1.csr" -noout -verify 2>&1 | qgrep "verify OK" ||
		fail "the token's CSR for $1 does not verify"
	ca_sign "$2" "$T/$1.csr" "$T/$1.pem" "${3:-}" "${4:-}"
	"$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label "$1" "$T/$1.pem" >/dev/null
}
