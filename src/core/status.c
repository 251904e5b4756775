/*-------------------------------------------------------------------------
 *
 * status.c
 *	  How the core reports errors: a status code and a message.
 *
 * Core functions return an EstStatus and write what went wrong into the
 * caller's buffer of EST_ERRMSG_LEN bytes; the shell turns both into an
 * ereport with the matching SQLSTATE.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>

#include "estcore.h"

/*
 * EstSetError formats a message into errmsg, which may be NULL.
 */
void
EstSetError(char *errmsg, const char *fmt,...)
{
	va_list		ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, EST_ERRMSG_LEN, fmt, ap);
	va_end(ap);
}
