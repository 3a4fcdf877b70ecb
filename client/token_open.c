/* Opening the token for administration, from options or a signerd.yaml. */
#include "client/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static int get_pin(const struct tok_opts *o, const struct cfg *cfg, struct p11_secret **pin,
		   struct sd_err *e)
{
	*pin = NULL;
	if (o->pin_file != NULL)
		return p11_secret_from_file(o->pin_file, pin, e);
	if (getenv("SIGNER_PIN") != NULL)
		return p11_secret_from_env("SIGNER_PIN", pin, e);
	if (cfg != NULL && cfg->token.pin_file != NULL)
		return p11_secret_from_file(cfg->token.pin_file, pin, e);
	if (cfg != NULL && cfg->token.pin_env != NULL)
		return p11_secret_from_env(cfg->token.pin_env, pin, e);
	return sd_err_set(e, SD_E_NOT_AUTHORIZED,
			  "no PIN: give --pin-file FILE or set SIGNER_PIN (never on the command "
			  "line)");
}

int tok_open(const struct tok_opts *o, struct tok_ctx *t, struct sd_err *e)
{
	struct cfg *cfg = NULL;
	struct p11_secret *pin = NULL;
	struct p11_uri u;
	const char *module = o->module;
	char uri[128];
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (o->config != NULL) {
		if (cfg_load_file(o->config, &cfg, e) != 0)
			return -1;
		if (module == NULL)
			module = cfg->token.module;
	}
	if (module == NULL) {
		sd_err_set(e, SD_E_BAD_REQUEST, "give --module PATH and --token LABEL, or -c FILE");
		goto out;
	}
	if (o->token != NULL) {
		if (snprintf(uri, sizeof(uri), "pkcs11:token=%s", o->token) >= (int)sizeof(uri) ||
		    strpbrk(o->token, ";?%") != NULL) {
			sd_err_set(e, SD_E_BAD_REQUEST, "bad token label \"%s\"", o->token);
			goto out;
		}
		if (p11_uri_parse(uri, &u, e) != 0)
			goto out;
	} else if (cfg != NULL) {
		if (p11_uri_parse(cfg->token.uri, &u, e) != 0)
			goto out;
	} else {
		sd_err_set(e, SD_E_BAD_REQUEST, "give --token LABEL (or -c FILE)");
		goto out;
	}
	if (get_pin(o, cfg, &pin, e) != 0)
		goto out;
	if (p11_module_load(module, cfg ? cfg->token.allowed_modules : NULL,
			    cfg ? cfg->token.nallowed_modules : 0, &t->mod, e) != 0) {
		p11_secret_free(pin);
		goto out;
	}
	if (p11_token_open(t->mod, &u, pin, 1, 1, &t->tok, e) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		tok_close(t);
	cfg_free(cfg);
	return ret;
}

void tok_close(struct tok_ctx *t)
{
	p11_token_free(t->tok);
	p11_module_free(t->mod);
	t->tok = NULL;
	t->mod = NULL;
}

int tok_key(struct tok_ctx *t, const char *label, struct p11_key **k, struct sd_err *e)
{
	struct p11_uri u;

	memset(&u, 0, sizeof(u));
	u.type = -1;
	if (label == NULL || strlen(label) >= sizeof(u.object))
		return sd_err_set(e, SD_E_BAD_REQUEST, "give --label LABEL (at most 128 bytes)");
	memcpy(u.object, label, strlen(label) + 1);
	return p11_key_find(t->tok, &u, k, e);
}

int tok_init(const struct tok_opts *o, struct sd_err *e)
{
	struct p11_module *m = NULL;
	struct p11_secret *so = NULL, *pin = NULL;
	int ret = -1;

	if (o->module == NULL || o->token == NULL || o->so_pin_file == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "init needs --module PATH --token LABEL --so-pin-file FILE");
	if (p11_secret_from_file(o->so_pin_file, &so, e) != 0 || get_pin(o, NULL, &pin, e) != 0)
		goto out;
	if (p11_module_load(o->module, NULL, 0, &m, e) != 0)
		goto out;
	ret = p11_init_token(m, o->token, so, pin, e);
out:
	p11_module_free(m);
	p11_secret_free(so);
	p11_secret_free(pin);
	return ret;
}
