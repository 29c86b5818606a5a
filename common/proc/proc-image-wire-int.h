/* SPDX-License-Identifier: MIT */
/*
 * What proc-image-wire's encoder and decoder share, and nothing else
 * includes: the magic, the flags, the page size and the general
 * registers' count.
 */
#ifndef COLO_PROC_IMAGE_WIRE_INT_H
#define COLO_PROC_IMAGE_WIRE_INT_H

#include <sys/user.h>

#define WIRE_MAGIC "COLOPIMG"
#define WIRE_MAGIC_LEN 8
#define WIRE_PAGE 4096ULL
#define WIRE_FLAG_DELTA 0x1

/* struct user_regs_struct is x86-64's 27 registers of 8 bytes each. */
#define WIRE_GP_REGS 27
_Static_assert(sizeof(struct user_regs_struct) == WIRE_GP_REGS * 8,
	       "user_regs_struct is not 27 u64 registers");

#endif
