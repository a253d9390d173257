/*
 * model_decode_fuzz.c: libFuzzer target for the retailiq.model decoder (model_format.c).
 *
 * The decoder is the code that stands between a stored or received value and every
 * model function; it must reject anything malformed without reading out of bounds. The
 * first input byte chooses whether to repair the checksum first: without repair almost
 * every mutation dies at the checksum, so repaired inputs let the fuzzer reach the header,
 * trainer and entry checks behind it.
 */
#include "c.h"

#include "core/model_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *buf;
	char		error[128];
	ModelDecoder d;
	ModelHeaderInfo hdr;
	ModelRawEntry e;

	if (size < 1)
		return 0;
	/* an exact-size copy, so AddressSanitizer sees any read past the end */
	buf = malloc(size - 1 > 0 ? size - 1 : 1);
	memcpy(buf, data + 1, size - 1);
	if ((data[0] & 1) && size - 1 >= MODEL_HEADER_SIZE)
		model_put_u32(buf + 12, model_checksum(buf, size - 1));

	(void) model_decode_all(buf, size - 1, error, sizeof(error));

	/* walk entry by entry as model_open does, touching every value byte */
	if (model_decode_open(&d, buf, size - 1, &hdr) == MODEL_DECODE_OK)
	{
		unsigned	sum = 0;

		for (uint32 i = 0; i < hdr.nentries; i++)
		{
			if (model_decode_next(&d, &e) != MODEL_DECODE_OK)
				break;
			for (size_t k = 0; k < e.values_len; k++)
				sum += (unsigned char) e.values[k];
			for (int k = 0; k < e.keylen; k++)
				sum += (unsigned char) e.key[k];
		}
		for (int k = 0; k < hdr.trained_by_len; k++)
			sum += (unsigned char) hdr.trained_by[k];
		if (sum == 0xFFFFFFFFu)
			abort();			/* keeps the reads from being optimised away */
	}
	free(buf);
	return 0;
}
