/*-------------------------------------------------------------------------
 *
 * fuzz_checkpoint.c
 *	  libFuzzer target for the checkpoint decoder.
 *
 * Each input is decoded twice: as it is, which mostly exercises the header
 * and checksum checks, and with its length field and CRC-32C trailer made
 * right, so that mutations reach the section parser.  Whatever decodes
 * must encode back to the same bytes; an older format version encodes as
 * the current one, which must decode and encode again to the same bytes.
 * Any crash, sanitizer report or trap is a finding.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
DecodeAndCheck(const uint8_t *buf, size_t size)
{
	EstCheckpoint ckpt;
	char		errmsg[EST_ERRMSG_LEN];
	uint8_t    *out;
	size_t		len;

	if (EstCheckpointDecode(buf, size, &ckpt, errmsg) != EST_OK)
		return;
	if (EstCheckpointEncode(&ckpt, &out, &len, errmsg) != EST_OK)
		__builtin_trap();
	EstCheckpointFree(&ckpt);
	if (buf[8] != EST_CHECKPOINT_VERSION)
	{
		/* an older format: its re-encoding must be stable */
		uint8_t    *again;
		size_t		again_len;

		if (EstCheckpointDecode(out, len, &ckpt, errmsg) != EST_OK ||
			EstCheckpointEncode(&ckpt, &again, &again_len, errmsg) != EST_OK ||
			again_len != len || memcmp(again, out, len) != 0)
			__builtin_trap();
		EstFree(again);
		EstCheckpointFree(&ckpt);
	}
	else if (len != size || memcmp(out, buf, len) != 0)
		__builtin_trap();
	EstFree(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *sealed;
	uint32_t	crc;

	DecodeAndCheck(data, size);

	if (size < 28)
		return 0;
	sealed = malloc(size);
	if (sealed == NULL)
		return 0;
	memcpy(sealed, data, size);
	for (int i = 0; i < 8; i++)
		sealed[12 + i] = (uint8_t) ((uint64_t) size >> (8 * i));
	crc = EstCrc32c(0, sealed, size - 4);
	for (int i = 0; i < 4; i++)
		sealed[size - 4 + i] = (uint8_t) (crc >> (8 * i));
	DecodeAndCheck(sealed, size);
	free(sealed);
	return 0;
}
