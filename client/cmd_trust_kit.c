/*
 * signer trust-kit: everything a Windows administrator needs to make Windows
 * Update clients trust a signing certificate: the certificate (.cer DER and
 * .pem), install-trust.ps1, install-trust.reg and README.txt.
 *
 * The Root store is written only for a self-signed certificate; that is
 * decided here, when the kit is generated, and said in every file.
 *
 * The .reg file stores the certificate the way the registry-backed system
 * stores do: HKLM\SOFTWARE\Microsoft\SystemCertificates\<STORE>\Certificates\
 * <SHA-1 thumbprint>, value "Blob", a serialized certificate element: a list
 * of properties, each { u32 LE id, u32 LE reserved/encoding = 1, u32 LE
 * length, value }, ending with the certificate itself as property 0x20
 * (MS-GPEF 2.2.1.1.1.1 and 2.2.1.1.1.2; MS-OSHARED 2.3.2.5.1 and 2.3.2.5.4).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "client/cli.h"
#include "client/cmds.h"
#include "common/buf.h"
#include "common/file.h"

#ifndef SIGNERD_VERSION
#define SIGNERD_VERSION "unknown"
#endif

#define KIT_CERT_MAX	 ((size_t)1 << 20) /* a --cert file */
#define KIT_TEXT_MAX	 ((size_t)4 << 20) /* any generated file */
#define KIT_WARN_DAYS	 90
#define KIT_NAME_MAX	 100
#define KIT_REG_LINE_MAX 77 /* hex text per line before the "\" (regedit wraps alike) */

/* Serialized certificate element property ids (MS-GPEF 2.2.1.1.1.1). */
#define PROP_SHA1_HASH 3
#define PROP_CERT      0x20

#define POLICY_KEY_REG "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"
#define POLICY_KEY_PS  "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"
#define STORES_REG     "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SystemCertificates"
#define GPO_SETTING    "Allow signed updates from an intranet Microsoft update service location"

enum { O_SOCKET = 256, O_KEY, O_CERT };

struct kit {
	X509 *x;
	uint8_t *der;
	size_t derlen;
	char name[KIT_NAME_MAX + 1]; /* file-name safe: [A-Za-z0-9._-] */
	char thumb[41];		     /* SHA-1, upper-case hex */
	char sha256[65];	     /* upper-case hex */
	char subject[1024];	     /* printable ASCII (escaped) */
	char issuer[1024];
	char serial[130];
	char not_before[32];
	char not_after[32];
	int self_signed;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signer trust-kit [--key NAME | --cert FILE] -o DIR [--socket PATH]\n\n"
		"Write a trust kit for Windows Update clients into DIR (created if missing):\n"
		"  NAME.cer, NAME.pem    the certificate (DER and PEM)\n"
		"  install-trust.ps1     imports it into LocalMachine Trusted Publishers (and\n"
		"                        Trusted Root when self-signed), checks the thumbprint,\n"
		"                        and sets AcceptTrustedPublisherCerts=1; run elevated\n"
		"  install-trust.reg     the same as a registry file (reg import, elevated)\n"
		"  README.txt            fingerprints, validity, GPO and ConfigMgr instructions\n\n"
		"The certificate comes from signerd (GET_CERT; the default key unless --key),\n"
		"or, offline, from a PEM or DER file given with --cert (NAME is its basename).\n"
		"A certificate without the codeSigning extended key usage is refused; one\n"
		"that expires within %d days is accepted with a warning.\n",
		KIT_WARN_DAYS);
}

/* ---- small text helpers ------------------------------------------------- */

/* One CRLF-terminated line. */
static void line(struct wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wbuf_vprintf(w, fmt, ap);
	va_end(ap);
	wbuf_raw(w, "\r\n", 2);
}

static void u32le(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	wbuf_raw(w, b, sizeof(b));
}

static void upper_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- the certificate ---------------------------------------------------- */

/* A name usable as a file name and inside the scripts' quoted strings. */
static void set_name(struct kit *k, const char *src, size_t n)
{
	size_t i;
	char c;

	if (n > KIT_NAME_MAX)
		n = KIT_NAME_MAX;
	for (i = 0; i < n; i++) {
		c = src[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || (c == '.' && i > 0)))
			c = '_';
		k->name[i] = c;
	}
	k->name[n] = '\0';
	if (n == 0)
		snprintf(k->name, sizeof(k->name), "certificate");
}

/* The name for --cert FILE: its basename without a certificate extension. */
static void name_from_path(struct kit *k, const char *path)
{
	static const char *const exts[] = {".pem", ".cer", ".crt", ".der"};
	const char *b = strrchr(path, '/');
	size_t n, i, el;

	b = b != NULL ? b + 1 : path;
	n = strlen(b);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		el = strlen(exts[i]);
		if (n > el && strcasecmp(b + n - el, exts[i]) == 0) {
			n -= el;
			break;
		}
	}
	set_name(k, b, n);
}

static int load_file(struct kit *k, const char *path)
{
	uint8_t *data = NULL;
	const uint8_t *p;
	size_t len = 0;
	struct sd_err e;
	BIO *bio = NULL;
	int ret = -1;

	if (sd_read_file(path, KIT_CERT_MAX, &data, &len, &e) != 0) {
		cli_err("%s", e.msg);
		goto out;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL) {
		cli_err("out of memory");
		goto out;
	}
	k->x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (k->x == NULL) {
		p = data;
		k->x = d2i_X509(NULL, &p, (long)len);
		if (k->x != NULL && p != data + len) {
			X509_free(k->x);
			k->x = NULL;
		}
	}
	ERR_clear_error();
	if (k->x == NULL) {
		cli_err("%s: not a PEM or DER X.509 certificate", path);
		goto out;
	}
	name_from_path(k, path);
	ret = 0;
out:
	BIO_free(bio);
	free(data);
	return ret;
}

/* The default key's name, from LIST_KEYS. */
static int default_key(struct signer_client *cl, char *name, size_t namesz)
{
	struct signer_key *keys = NULL;
	struct signer_error e;
	size_t n = 0, i;
	int ret = -1;

	if (signer_list_keys(cl, &keys, &n, &e) != 0) {
		cli_err_signer("LIST_KEYS", &e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (keys[i].is_default) {
			snprintf(name, namesz, "%s", keys[i].name);
			ret = 0;
			goto out;
		}
	}
	cli_err("signerd reports no default key; name one with --key");
out:
	signer_free(keys);
	return ret;
}

static int load_daemon(struct kit *k, const char *key, const char *sock)
{
	struct signer_client *cl = cli_connect(sock);
	char def[128];
	int ret = -1;

	if (cl == NULL)
		goto out;
	if (key == NULL) {
		if (default_key(cl, def, sizeof(def)) != 0)
			goto out;
		key = def;
	}
	if (cli_get_cert(cl, key, &k->x, NULL) != 0)
		goto out;
	set_name(k, key, strlen(key));
	ret = 0;
out:
	signer_close(cl);
	return ret;
}

/* Printable-ASCII one-line name, most significant RDN first (as Windows shows it). */
static void name_text(const X509_NAME *nm, char *out, size_t outsz)
{
	unsigned long fl = (XN_FLAG_RFC2253 & ~XN_FLAG_SEP_MASK) | XN_FLAG_SEP_CPLUS_SPC;
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	/* RFC 2253 flags escape control characters and every byte above 0x7e. */
	if (X509_NAME_print_ex(b, nm, 0, fl) >= 0)
		n = BIO_read(b, out, (int)outsz - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

static void time_text(const ASN1_TIME *t, char *out, size_t outsz)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outsz, "(unreadable)");
}

/* Self-signed: issuer equals subject and the certificate's own key verifies it. */
static int is_self_signed(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int r;

	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0 || pk == NULL)
		return 0;
	r = X509_verify(x, pk);
	ERR_clear_error();
	return r == 1;
}

static int describe(struct kit *k)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdl = 0;
	unsigned char *der = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int n, ret = -1;

	n = i2d_X509(k->x, &der);
	if (n <= 0) {
		cli_err("cannot encode the certificate");
		goto out;
	}
	k->der = der;
	k->derlen = (size_t)n;
	if (EVP_Digest(k->der, k->derlen, md, &mdl, EVP_sha1(), NULL) != 1 || mdl != 20)
		goto out;
	upper_hex(md, mdl, k->thumb);
	if (EVP_Digest(k->der, k->derlen, md, &mdl, EVP_sha256(), NULL) != 1 || mdl != 32)
		goto out;
	upper_hex(md, mdl, k->sha256);
	name_text(X509_get_subject_name(k->x), k->subject, sizeof(k->subject));
	name_text(X509_get_issuer_name(k->x), k->issuer, sizeof(k->issuer));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(k->x), NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	if (hex == NULL)
		goto out;
	snprintf(k->serial, sizeof(k->serial), "%s", hex);
	time_text(X509_get0_notBefore(k->x), k->not_before, sizeof(k->not_before));
	time_text(X509_get0_notAfter(k->x), k->not_after, sizeof(k->not_after));
	k->self_signed = is_self_signed(k->x);
	ret = 0;
out:
	if (ret != 0)
		cli_err("cannot read the certificate's fields");
	OPENSSL_free(hex);
	BN_free(bn);
	return ret;
}

/* Refuse what Windows Update would refuse; warn about what expires soon. */
static int check_cert(const struct kit *k)
{
	const ASN1_TIME *na = X509_get0_notAfter(k->x);
	int days = 0, secs = 0;

	if (!(X509_get_extension_flags(k->x) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(k->x) & XKU_CODE_SIGN)) {
		cli_err("certificate %s (%s) has no codeSigning extended key usage "
			"(1.3.6.1.5.5.7.3.3): Windows does not accept CAB signatures made with it; "
			"no kit written",
			k->thumb, k->subject);
		return -1;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1) {
		cli_err("certificate %s: unreadable notAfter", k->thumb);
		return -1;
	}
	if (days < 0 || (days == 0 && secs <= 0))
		fprintf(stderr,
			"signer: warning: certificate %s expired on %s; clients will not accept "
			"new signatures made with it\n",
			k->thumb, k->not_after);
	else if (days < KIT_WARN_DAYS)
		fprintf(stderr,
			"signer: warning: certificate %s expires on %s, in %d days (less than %d): "
			"plan its rotation (docs/OPERATIONS.md)\n",
			k->thumb, k->not_after, days, KIT_WARN_DAYS);
	if (X509_cmp_current_time(X509_get0_notBefore(k->x)) > 0)
		fprintf(stderr, "signer: warning: certificate %s is not valid before %s\n",
			k->thumb, k->not_before);
	return 0;
}

/* ---- install-trust.reg -------------------------------------------------- */

/* The serialized certificate element: SHA-1 hash property, then the certificate. */
static void cert_blob(const struct kit *k, struct wbuf *w)
{
	uint8_t sha1[20];

	sd_unhex(k->thumb, sha1, sizeof(sha1));
	u32le(w, PROP_SHA1_HASH);
	u32le(w, 1);
	u32le(w, sizeof(sha1));
	wbuf_raw(w, sha1, sizeof(sha1));
	u32le(w, PROP_CERT);
	u32le(w, 1);
	u32le(w, (uint32_t)k->derlen);
	wbuf_raw(w, k->der, k->derlen);
}

/* "name"=hex:xx,xx,... wrapped as regedit does: ",\" then two spaces. */
static void reg_hex(struct wbuf *w, const char *name, const uint8_t *p, size_t n)
{
	size_t i, col;

	wbuf_printf(w, "\"%s\"=hex:", name);
	col = strlen(name) + 7;
	for (i = 0; i < n; i++) {
		if (col + 3 > KIT_REG_LINE_MAX) {
			wbuf_printf(w, "\\\r\n  ");
			col = 2;
		}
		wbuf_printf(w, "%02x%s", p[i], i + 1 < n ? "," : "");
		col += 3;
	}
	wbuf_printf(w, "\r\n");
}

static int build_reg(const struct kit *k, struct wbuf *out)
{
	static const char *const stores[] = {"TrustedPublisher", "ROOT"};
	struct wbuf t, blob;
	size_t i;
	int ret = -1;

	wbuf_init(&t, KIT_TEXT_MAX);
	wbuf_init(&blob, KIT_TEXT_MAX);
	cert_blob(k, &blob);
	line(&t, "Windows Registry Editor Version 5.00");
	line(&t, "%s", "");
	line(&t, "; install-trust.reg: written by signer trust-kit (signerd %s)", SIGNERD_VERSION);
	line(&t, "; Certificate %s.cer, SHA-1 thumbprint %s", k->name, k->thumb);
	if (k->self_signed)
		line(&t,
		     "; Self-signed: added to Trusted Publishers AND Trusted Root Certification "
		     "Authorities.");
	else
		line(&t,
		     "; Issued by a CA: added to Trusted Publishers only (not to Trusted Root);");
	if (!k->self_signed)
		line(&t, "; clients must already trust the issuing CA's chain.");
	line(&t, "; Then enables \"%s\" (AcceptTrustedPublisherCerts=1).", GPO_SETTING);
	line(&t, "; Import elevated: reg import install-trust.reg (install-trust.ps1 also checks");
	line(&t, "; the thumbprint after import and is the preferred way).");
	for (i = 0; i < (k->self_signed ? 2u : 1u); i++) {
		line(&t, "%s", "");
		line(&t, "[%s\\%s\\Certificates\\%s]", STORES_REG, stores[i], k->thumb);
		reg_hex(&t, "Blob", blob.p, blob.len);
	}
	line(&t, "%s", "");
	line(&t, "[%s]", POLICY_KEY_REG);
	line(&t, "\"AcceptTrustedPublisherCerts\"=dword:00000001");
	line(&t, "%s", "");
	if (wbuf_failed(&t) || wbuf_failed(&blob))
		goto out;
	/* UTF-16LE with a byte-order mark, as regedit itself exports; the text is ASCII. */
	wbuf_raw(out, "\xff\xfe", 2);
	for (i = 0; i < t.len; i++) {
		wbuf_u8(out, t.p[i]);
		wbuf_u8(out, 0);
	}
	ret = wbuf_failed(out) ? -1 : 0;
out:
	wbuf_free(&t);
	wbuf_free(&blob);
	return ret;
}

/* ---- install-trust.ps1 -------------------------------------------------- */

static void ps1_header(const struct kit *k, struct wbuf *w)
{
	line(w, "# install-trust.ps1: written by signer trust-kit (signerd %s)", SIGNERD_VERSION);
	line(w, "#");
	line(w, "# Makes this computer trust Windows Update CABs signed by the certificate in");
	line(w, "# %s.cer, which must sit in the same directory as this script:", k->name);
	line(w, "#   Subject:     %s", k->subject);
	line(w, "#   Issuer:      %s", k->issuer);
	line(w, "#   Serial:      %s", k->serial);
	line(w, "#   Thumbprint:  %s (SHA-1)", k->thumb);
	line(w, "#   Valid:       %s to %s", k->not_before, k->not_after);
	line(w, "#");
	line(w, "# 1. imports it into Cert:\\LocalMachine\\TrustedPublisher (Trusted Publishers);");
	if (k->self_signed) {
		line(w,
		     "# 2. imports it into Cert:\\LocalMachine\\Root (Trusted Root Certification "
		     "Authorities):");
		line(w, "#    the certificate is SELF-SIGNED, so it must be its own trusted root.");
	} else {
		line(
		    w,
		    "# 2. does NOT touch Cert:\\LocalMachine\\Root: the certificate is issued by a "
		    "CA,");
		line(w,
		     "#    so clients must already trust that CA's chain (deploy it separately).");
	}
	line(w, "#    (Decided when the kit was generated, from the certificate itself.)");
	line(w, "# 3. checks the thumbprint of the file and of every imported certificate;");
	line(w, "# 4. sets %s", POLICY_KEY_PS);
	line(w, "#    AcceptTrustedPublisherCerts = 1 (DWORD), creating the key if needed: the");
	line(w, "#    policy \"%s\".", GPO_SETTING);
	line(w, "#    A domain GPO that configures this policy wins at the next policy refresh.");
	line(w, "#");
	line(w, "# REQUIRES ELEVATION. From Windows PowerShell 5.1 started with \"Run as "
		"administrator\":");
	line(w, "#   powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\\install-trust.ps1");
	line(w, "# Exit status 0 when done, 1 when anything failed (the message says what).");
	line(w, "%s", "");
}

static int build_ps1(const struct kit *k, struct wbuf *w)
{
	ps1_header(k, w);
	line(w, "Set-StrictMode -Version 2.0");
	line(w, "$ErrorActionPreference = 'Stop'");
	line(w, "%s", "");
	line(w, "$Thumbprint = '%s'", k->thumb);
	line(w, "$CerFile = '%s.cer'", k->name);
	line(w, "$Stores = @(%s)",
	     k->self_signed ? "'TrustedPublisher', 'Root'" : "'TrustedPublisher'");
	line(w, "$PolicyKey = '%s'", POLICY_KEY_PS);
	line(w, "%s", "");
	line(w, "$identity = [Security.Principal.WindowsIdentity]::GetCurrent()");
	line(w, "$principal = New-Object -TypeName Security.Principal.WindowsPrincipal "
		"-ArgumentList $identity");
	line(w, "if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::"
		"Administrator)) {");
	line(w, "    Write-Error -ErrorAction Continue -Message ('install-trust.ps1 must run "
		"elevated: start Windows PowerShell with \"Run as administrator\". ' + "
		"'Nothing was changed.')");
	line(w, "    exit 1");
	line(w, "}");
	line(w, "%s", "");
	line(w, "try {");
	line(w, "    $CerPath = Join-Path -Path $PSScriptRoot -ChildPath $CerFile");
	line(w, "    $cert = New-Object -TypeName "
		"System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList "
		"$CerPath");
	line(w, "    if ($cert.Thumbprint -ne $Thumbprint) {");
	line(w, "        throw \"$CerPath has thumbprint $($cert.Thumbprint), not ${Thumbprint}; "
		"the kit was altered. Nothing was changed.\"");
	line(w, "    }");
	line(w, "    foreach ($store in $Stores) {");
	line(w, "        $location = \"Cert:\\LocalMachine\\$store\"");
	line(w, "        $imported = Import-Certificate -FilePath $CerPath -CertStoreLocation "
		"$location");
	line(w, "        if ($imported.Thumbprint -ne $Thumbprint -or -not (Test-Path -LiteralPath "
		"\"$location\\$Thumbprint\")) {");
	line(w, "            throw \"$location does not hold a certificate with thumbprint "
		"$Thumbprint after the import\"");
	line(w, "        }");
	line(w, "        Write-Host \"ok: $location\\$Thumbprint\"");
	line(w, "    }");
	line(w, "    if (-not (Test-Path -LiteralPath $PolicyKey)) {");
	line(w, "        New-Item -Path $PolicyKey -Force | Out-Null");
	line(w, "    }");
	line(w, "    New-ItemProperty -LiteralPath $PolicyKey -Name 'AcceptTrustedPublisherCerts' "
		"-PropertyType DWord -Value 1 -Force | Out-Null");
	line(w, "    $value = (Get-ItemProperty -LiteralPath $PolicyKey -Name "
		"'AcceptTrustedPublisherCerts').AcceptTrustedPublisherCerts");
	line(w, "    if ($value -ne 1) {");
	line(w, "        throw \"AcceptTrustedPublisherCerts reads back as $value, not 1\"");
	line(w, "    }");
	line(w, "    Write-Host \"ok: $PolicyKey\\AcceptTrustedPublisherCerts = 1\"");
	line(w, "} catch {");
	line(w, "    Write-Error -ErrorAction Continue -Message ('install-trust.ps1 failed: ' + "
		"$_.Exception.Message)");
	line(w, "    exit 1");
	line(w, "}");
	line(w, "exit 0");
	return wbuf_failed(w) ? -1 : 0;
}

/* ---- README.txt --------------------------------------------------------- */

static void readme_cert(const struct kit *k, struct wbuf *w)
{
	line(w, "Trust kit for %s", k->name);
	line(w, "Written by signer trust-kit (signerd %s).", SIGNERD_VERSION);
	line(w, "%s", "");
	line(w, "CERTIFICATE");
	line(w, "  Files:               %s.cer (DER), %s.pem (PEM)", k->name, k->name);
	line(w, "  Subject:             %s", k->subject);
	line(w, "  Issuer:              %s", k->issuer);
	line(w, "  Serial number:       %s", k->serial);
	line(w, "  SHA-1 thumbprint:    %s", k->thumb);
	line(w, "  SHA-256 fingerprint: %s", k->sha256);
	line(w, "  Valid from:          %s", k->not_before);
	line(w, "  Valid to:            %s", k->not_after);
	line(w, "  Self-signed:         %s", k->self_signed ? "yes" : "no");
	line(w, "%s", "");
	line(w, "WHAT EVERY WINDOWS UPDATE CLIENT NEEDS");
	line(w, "  A client installs an update published through WSUS (or a Configuration");
	line(w, "  Manager software update point) and signed with this certificate only when:");
	line(w, "  1. the certificate is in the Local Computer \"Trusted Publishers\" store");
	line(w, "     (Cert:\\LocalMachine\\TrustedPublisher);");
	if (k->self_signed) {
		line(w, "  2. it is also in \"Trusted Root Certification Authorities\"");
		line(w,
		     "     (Cert:\\LocalMachine\\Root): it is self-signed, so it is its own root;");
	} else {
		line(w, "  2. its issuing CA chain is trusted: the root in \"Trusted Root "
			"Certification");
		line(w, "     Authorities\", intermediates in \"Intermediate Certification");
		line(w, "     Authorities\". This kit does not install the CA certificates;");
	}
	line(w, "  3. the policy \"%s\"", GPO_SETTING);
	line(w, "     is enabled, which is the registry value");
	line(w, "     HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate");
	line(w, "     AcceptTrustedPublisherCerts = 1 (REG_DWORD).");
	line(w, "%s", "");
	line(w, "  IMPORTANT: every client must trust this certificate BEFORE any CAB signed");
	line(w, "  with it is published. A client that does not trust it yet fails to install");
	line(w, "  those updates.");
	line(w, "%s", "");
}

static void readme_howto(const struct kit *k, struct wbuf *w)
{
	line(w, "OPTION A: GROUP POLICY (domain)");
	line(w, "  Paths as the local gpedit.msc shows them; in a domain GPO the Group Policy");
	line(w, "  Management Editor adds \"Policies >\" after \"Computer Configuration\".");
	line(w, "  - Computer Configuration > Windows Settings > Security Settings >");
	line(w, "    Public Key Policies > Trusted Publishers: Import... %s.cer", k->name);
	if (k->self_signed) {
		line(w, "  - Computer Configuration > Windows Settings > Security Settings >");
		line(w, "    Public Key Policies > Trusted Root Certification Authorities:");
		line(w, "    Import... %s.cer", k->name);
	}
	line(w, "  - Computer Configuration > Administrative Templates > Windows Components >");
	line(w, "    Windows Update > %s:", GPO_SETTING);
	line(w, "    Enabled. Newer administrative templates (Windows 11) show it one level");
	line(w, "    down, in Windows Update > Manage updates offered from Windows Server");
	line(w, "    Update Service.");
	line(w, "%s", "");
	line(w, "OPTION B: CONFIGURATION MANAGER");
	line(w, "  Client Settings > Software Updates > \"Enable third party software updates\"");
	line(w, "  = Yes: the ConfigMgr client then enables the policy above and installs the");
	line(w, "  WSUS signing certificate configured on the top-level software update point");
	line(w, "  (third-party updates) into Trusted Publishers, and into Trusted Root when it");
	line(w, "  is self-signed. If that certificate is not this one, use option A or C.");
	line(w, "%s", "");
	line(w, "OPTION C: THIS KIT, ON EACH MACHINE (elevated)");
	line(w, "  powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\\install-trust.ps1");
	line(w, "    (checks the thumbprint after the import; preferred), or");
	line(w, "  reg import install-trust.reg");
	line(w, "    (writes the same stores and policy value directly; for images and tools");
	line(w, "    that only take .reg files).");
	line(w, "%s", "");
	line(w, "CHECK A CLIENT");
	line(w, "  Test-Path Cert:\\LocalMachine\\TrustedPublisher\\%s", k->thumb);
	if (k->self_signed)
		line(w, "  Test-Path Cert:\\LocalMachine\\Root\\%s", k->thumb);
	line(w, "  reg query HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate /v "
		"AcceptTrustedPublisherCerts");
	line(w, "%s", "");
	line(w, "REMOVING TRUST");
	line(w, "  Remove-Item Cert:\\LocalMachine\\TrustedPublisher\\%s", k->thumb);
	if (k->self_signed) {
		line(w, "  Remove-Item Cert:\\LocalMachine\\Root\\%s", k->thumb);
		line(w,
		     "  A self-signed certificate cannot be revoked: if its key is compromised,");
		line(w, "  removing it from every client is the only remedy.");
	} else {
		line(w, "  A CA-issued certificate can also be revoked by its CA (CRL).");
	}
}

static int build_readme(const struct kit *k, struct wbuf *w)
{
	readme_cert(k, w);
	readme_howto(k, w);
	return wbuf_failed(w) ? -1 : 0;
}

/* ---- output ------------------------------------------------------------- */

/* mkdir -p DIR (0755). */
static int make_dir(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(p)) {
		cli_err("-o: bad directory name");
		return -1;
	}
	memcpy(p, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			cli_err("cannot create directory %s: %s", p, strerror(errno));
			return -1;
		}
		p[i] = i < n ? '/' : '\0';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		cli_err("%s is not a directory", dir);
		return -1;
	}
	return 0;
}

static int write_one(const char *dir, const char *name, const char *ext, const void *data,
		     size_t len)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext) >= (int)sizeof(path)) {
		cli_err("%s/%s%s: path too long", dir, name, ext);
		return -1;
	}
	return cli_write_output(path, data, len, 0644);
}

static int write_kit(const struct kit *k, const char *dir)
{
	struct wbuf pem, ps1, reg, readme;
	BIO *b = NULL;
	char *p;
	long n;
	int ret = -1;

	wbuf_init(&pem, KIT_TEXT_MAX);
	wbuf_init(&ps1, KIT_TEXT_MAX);
	wbuf_init(&reg, KIT_TEXT_MAX);
	wbuf_init(&readme, KIT_TEXT_MAX);
	b = BIO_new(BIO_s_mem());
	if (b == NULL || PEM_write_bio_X509(b, k->x) != 1 || (n = BIO_get_mem_data(b, &p)) <= 0)
		goto fail;
	wbuf_raw(&pem, p, (size_t)n);
	if (wbuf_failed(&pem) || build_ps1(k, &ps1) != 0 || build_reg(k, &reg) != 0 ||
	    build_readme(k, &readme) != 0)
		goto fail;
	if (make_dir(dir) != 0 || write_one(dir, k->name, ".cer", k->der, k->derlen) != 0 ||
	    write_one(dir, k->name, ".pem", pem.p, pem.len) != 0 ||
	    write_one(dir, "install-trust", ".ps1", ps1.p, ps1.len) != 0 ||
	    write_one(dir, "install-trust", ".reg", reg.p, reg.len) != 0 ||
	    write_one(dir, "README", ".txt", readme.p, readme.len) != 0)
		goto out;
	ret = 0;
	goto out;
fail:
	cli_err("cannot build the trust kit (out of memory?)");
out:
	BIO_free(b);
	wbuf_free(&pem);
	wbuf_free(&ps1);
	wbuf_free(&reg);
	wbuf_free(&readme);
	return ret;
}

int cmd_trust_kit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, O_KEY},  {"cert", required_argument, NULL, O_CERT},
	    {"output", required_argument, NULL, 'o'}, {"socket", required_argument, NULL, O_SOCKET},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *key = NULL, *cert = NULL, *dir = NULL, *sock = NULL;
	struct kit k;
	int c, ret = CLI_FAIL;

	memset(&k, 0, sizeof(k));
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key = optarg;
			break;
		case O_CERT:
			cert = optarg;
			break;
		case 'o':
			dir = optarg;
			break;
		case O_SOCKET:
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc || dir == NULL || dir[0] == '\0' || (key != NULL && cert != NULL) ||
	    (key != NULL && key[0] == '\0')) {
		if (key != NULL && cert != NULL)
			cli_err("--key and --cert exclude each other");
		else if (dir == NULL || dir[0] == '\0')
			cli_err("-o DIR is required");
		usage(stderr);
		return CLI_USAGE;
	}
	if ((cert != NULL ? load_file(&k, cert) : load_daemon(&k, key, sock)) != 0)
		goto out;
	if (describe(&k) != 0 || check_cert(&k) != 0 || write_kit(&k, dir) != 0)
		goto out;
	printf("trust kit for %s (SHA-1 %s, %s) written to %s\n", k.name, k.thumb,
	       k.self_signed ? "self-signed: Trusted Publishers + Trusted Root"
			     : "CA-issued: Trusted Publishers",
	       dir);
	ret = CLI_OK;
out:
	X509_free(k.x);
	OPENSSL_free(k.der);
	return ret;
}
