// SPDX-License-Identifier: MIT
/*
 * A host's and a program's identity (proc-identity.h): uname, the CPUID
 * leaves that name features, and the SHA-256 of every file the program
 * maps executable; and the secondary's check of the primary's against
 * itself. The wire format is in proc-identity-wire.c.
 */
#include "proc-identity.h"
#include "proc-maps.h"
#include "digest.h"
#include "log.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* The leaves (and subleaves) whose bits are features, and which registers
 * of each: not leaf 1's ebx (the APIC id), nor brand, cache or topology
 * leaves, which differ between two hosts that run the same code alike. */
enum { EAX = 1, EBX = 2, ECX = 4, EDX = 8 };
static const struct {
	uint32_t leaf, subleaf, regs;
} feature_leaves[] = {
	{ 1, 0, ECX | EDX },
	{ 7, 0, EAX | EBX | ECX | EDX },
	{ 7, 1, EAX | EBX | ECX | EDX },
	{ 0xd, 0, EAX | EBX | ECX | EDX },    /* XSAVE components and sizes */
	{ 0xd, 1, EAX | EBX | ECX | EDX },
	{ 0x80000001, 0, ECX | EDX },
};

/* A leaf above the CPU's maximum reads as zeros, not as whatever the CPU
 * answers for it (the highest basic leaf, on Intel). */
static int cpu_features_digest(uint8_t out[DIGEST_LEN])
{
	uint8_t words[sizeof(feature_leaves) / sizeof(feature_leaves[0])][16];
	uint32_t max_basic = __get_cpuid_max(0, NULL);
	uint32_t max_ext = __get_cpuid_max(0x80000000, NULL);

	memset(words, 0, sizeof(words));
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		uint32_t leaf = feature_leaves[i].leaf, r[4];
		uint32_t max = leaf >= 0x80000000 ? max_ext : max_basic;

		if (leaf > max)
			continue;
		__cpuid_count(leaf, feature_leaves[i].subleaf, r[0], r[1],
			      r[2], r[3]);
		for (int k = 0; k < 4; k++) {
			if (!(feature_leaves[i].regs & (1u << k)))
				continue;
			for (int b = 0; b < 4; b++)
				words[i][4 * k + b] = (uint8_t)(r[k] >> (24 - 8 * b));
		}
	}
	return digest_buf(words, sizeof(words), out);
}

static int host_of(struct proc_identity *id)
{
	struct utsname u;

	if (uname(&u) < 0) {
		int err = errno;

		log_error("uname: %s", strerror(err));
		return -err;
	}
	snprintf(id->kernel, sizeof(id->kernel), "%s %s", u.release, u.version);
	snprintf(id->machine, sizeof(id->machine), "%s", u.machine);
	return cpu_features_digest(id->cpu);
}

static bool listed(const struct proc_identity *id, const char *path)
{
	for (size_t i = 0; i < id->nfiles; i++)
		if (!strcmp(id->files[i].path, path))
			return true;
	return false;
}

/* Hashes path as program pid sees it, and appends it to id. */
static int add_file(struct proc_identity *id, pid_t pid, const char *path)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(path), d = sizeof(deleted) - 1;
	struct proc_identity_file *f;
	char inside[PROC_IDENTITY_PATH_MAX + 32];

	if (n > d && !strcmp(path + n - d, deleted)) {
		log_error("pid %d maps %s executable: it cannot be compared",
			  (int)pid, path);
		return -ESTALE;
	}
	if (n > PROC_IDENTITY_PATH_MAX || id->nfiles == PROC_IDENTITY_MAX_FILES) {
		log_error("pid %d: %s is one file or one path too many "
			  "(at most %d of %d bytes)", (int)pid, path,
			  PROC_IDENTITY_MAX_FILES, PROC_IDENTITY_PATH_MAX);
		return -E2BIG;
	}
	f = realloc(id->files, (id->nfiles + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	id->files = f;
	f = &id->files[id->nfiles];
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	id->nfiles++;
	snprintf(inside, sizeof(inside), "/proc/%d/root%s", (int)pid, path);
	return digest_file(inside, f->sha256);
}

int proc_identity_of(pid_t pid, struct proc_identity *out)
{
	struct proc_maps maps;
	int r;

	memset(out, 0, sizeof(*out));
	r = proc_maps_read(pid, &maps);
	if (r)
		return r;
	r = host_of(out);
	for (size_t i = 0; i < maps.n && !r; i++) {
		const struct proc_vma *v = &maps.vma[i];

		if (v->kind == PROC_VMA_FILE && (v->prot & PROT_EXEC) &&
		    !listed(out, v->path))
			r = add_file(out, pid, v->path);
	}
	proc_maps_free(&maps);
	if (r)
		proc_identity_free(out);
	return r;
}

void proc_identity_free(struct proc_identity *id)
{
	if (!id)
		return;
	for (size_t i = 0; i < id->nfiles; i++)
		free(id->files[i].path);
	free(id->files);
	id->files = NULL;
	id->nfiles = 0;
}

/* Their file against the one at the same path here. */
static int check_file(const struct proc_identity_file *f, char *reason,
		      size_t len)
{
	uint8_t here[DIGEST_LEN];
	struct stat st;

	if (stat(f->path, &st) < 0) {
		if (errno == ENOENT)
			snprintf(reason, len, "%s is missing here", f->path);
		else
			snprintf(reason, len, "%s: %s here", f->path,
				 strerror(errno));
		return -EPROTO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(reason, len, "%s is not a regular file here", f->path);
		return -EPROTO;
	}
	if (digest_file(f->path, here)) {
		snprintf(reason, len, "%s is not readable here", f->path);
		return -EPROTO;
	}
	if (memcmp(here, f->sha256, DIGEST_LEN)) {
		snprintf(reason, len, "%s differs", f->path);
		return -EPROTO;
	}
	return 0;
}

int proc_identity_check(const struct proc_identity *theirs, char *reason,
			size_t len)
{
	struct proc_identity here = { 0 };
	int r = host_of(&here);

	if (r) {
		snprintf(reason, len, "this host's identity: %s", strerror(-r));
		return r;
	}
	if (strcmp(here.kernel, theirs->kernel)) {
		snprintf(reason, len, "kernel %s here, %s on the primary",
			 here.kernel, theirs->kernel);
		return -EPROTO;
	}
	if (strcmp(here.machine, theirs->machine)) {
		snprintf(reason, len, "machine %s here, %s on the primary",
			 here.machine, theirs->machine);
		return -EPROTO;
	}
	if (memcmp(here.cpu, theirs->cpu, sizeof(here.cpu))) {
		snprintf(reason, len, "CPU features differ from the primary's "
			 "(CPUID leaves 1, 7, 0xd, 0x80000001)");
		return -EPROTO;
	}
	for (size_t i = 0; i < theirs->nfiles; i++) {
		r = check_file(&theirs->files[i], reason, len);
		if (r)
			return r;
	}
	return 0;
}
