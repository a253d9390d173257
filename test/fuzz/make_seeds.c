/*
 * make_seeds.c: writes valid model values (the fuzzer's starting corpus) with the
 * decoder's own encoding primitives: an empty model and one with each value type.
 */
#include "c.h"

#include <stdio.h>

#include "core/model_format.h"

static size_t
put_entry(char *p, int section, int type, const char *key, int ndim, const uint32 *dims,
		  const char *values, size_t vlen)
{
	size_t		n = 0;

	p[n++] = (char) section;
	p[n++] = (char) type;
	p[n++] = (char) ndim;
	p[n++] = (char) strlen(key);
	memcpy(p + n, key, strlen(key));
	n += strlen(key);
	for (int i = 0; i < ndim; i++, n += 4)
		model_put_u32(p + n, dims[i]);
	memcpy(p + n, values, vlen);
	return n + vlen;
}

static void
write_seed(const char *path, char *buf, size_t len, int kind)
{
	FILE	   *f = fopen(path, "wb");
	char		flag = 0;

	model_put_u32(buf, MODEL_MAGIC);
	model_put_u16(buf + 4, MODEL_FORMAT_VERSION);
	model_put_u16(buf + 6, (uint16) kind);
	model_put_u32(buf + 8, (uint32) (len - MODEL_HEADER_SIZE));
	model_put_u32(buf + 12, model_checksum(buf, len));
	fwrite(&flag, 1, 1, f);
	fwrite(buf, 1, len, f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	char		buf[4096];
	char		vals[256];
	size_t		n;
	uint32		dims[2] = {2, 3};
	char		path[1024];

	/* empty model: no trainer name, no entries */
	memset(buf, 0, sizeof(buf));
	n = MODEL_HEADER_SIZE + 8 + 1 + 4;
	snprintf(path, sizeof(path), "%s/empty", argv[1]);
	write_seed(path, buf, n, 1);

	/* one entry of each type */
	n = MODEL_HEADER_SIZE;
	model_put_u64(buf + n, 123456789);
	n += 8;
	buf[n++] = 5;
	memcpy(buf + n, "alice", 5);
	n += 5;
	model_put_u32(buf + n, 5);
	n += 4;
	model_put_u64(vals, 3);
	n += put_entry(buf + n, 1, 2, "k", 0, NULL, vals, 8);
	vals[0] = 1;
	n += put_entry(buf + n, 1, 4, "standardize", 0, NULL, vals, 1);
	model_put_f64(vals, 1.5);
	n += put_entry(buf + n, 2, 1, "inertia", 0, NULL, vals, 8);
	for (int i = 0; i < 6; i++)
		model_put_f64(vals + 8 * i, i * 0.25);
	n += put_entry(buf + n, 3, 1, "centroids", 2, dims, vals, 48);
	model_put_u32(vals, 3);
	memcpy(vals + 4, "abc", 3);
	model_put_u32(vals + 7, 2);
	memcpy(vals + 11, "de", 2);
	dims[0] = 2;
	n += put_entry(buf + n, 3, 3, "names", 1, dims, vals, 13);
	snprintf(path, sizeof(path), "%s/full", argv[1]);
	write_seed(path, buf, n, 1);
	(void) argc;
	return 0;
}
