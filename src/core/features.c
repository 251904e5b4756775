/*-------------------------------------------------------------------------
 *
 * features.c
 *	  Feature columns: numeric, bucketized, vocabulary, identity, hash and
 *	  crossed columns, and the z-score state of regression labels.
 *
 * A transform (EstTransform) is a list of feature columns in the manner
 * of tf.feature_column.  Each column owns a run of slots in the compact
 * row X: numeric columns hold their (normalised) values, categorical
 * columns hold ids, one per value, that the network turns into an
 * indicator or an embedding (see EstInputSegment in estcore.h).
 *
 * Fitting.  Numeric statistics and learned vocabularies come from the
 * training rows.  Until EstTransformFit, numeric slots hold raw values
 * (NaN for NULL), learned vocabulary slots hold provisional ids (the
 * index of the value in a per-column dictionary of the distinct values
 * seen so far, kept in tf->pending) and every categorical NULL holds the
 * provisional marker -2 (PROVISIONAL_NULL); -1 is an empty slot as ever.
 * EstTransformFit counts over the first n_fit rows only (the rest are
 * holdout rows that must not influence the state), learns the state and
 * then rewrites all rows into final form.  Statistics accumulate in double
 * with Welford's method, in the same loop and with the same rounding as
 * EstFeatureStateFit and EstFeatureStateApply, so that a z-scored column
 * without NULLs gives bit for bit what the feature state gives.
 *
 * Hashes (a compatibility promise: ids are stored in checkpoints, and
 * must not change between machines or releases):
 *	 Mix64(z):	z ^= z >> 30; z *= 0xbf58476d1ce4e5b9;
 *				z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31
 *				(the finaliser of splitmix64)
 *	 EstHashString(s): FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 *				0x100000001b3) over the bytes of s, then Mix64
 *	 EstHashCross(v_1 .. v_n): h = n; for k = 1 .. n:
 *				h = Mix64((h ^ EstHashString(v_k)) + 0x9e3779b97f4a7c15),
 *				that is splitmix64's output for the state h ^ hash(v_k)
 * A value's bucket is the hash modulo the number of buckets (unsigned 64
 * bits).  An integer value is hashed as its decimal text ("-12"), so that
 * the same value gives the same id whether it comes as text or integer.
 *
 * Vocabulary lookups go through an open-addressing hash table
 * (EstVocabIndex) over the entries, probed linearly, at most half full.
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

#define PROVISIONAL_NULL	(-2.0f) /* a categorical NULL before the fit */
#define DEFAULT_MAX_VALUES	32		/* slots of a multi-valued column */
#define MAX_NAME_BYTES		EST_MAX_VOCAB_BYTES /* names and keys */
#define MAX_CROSSED_KEYS	8
#define HASH_GOLDEN			UINT64_C(0x9e3779b97f4a7c15)

/*
 * The vocabulary index: table[] holds entry numbers (-1 for a free place)
 * at the place of their hash, probed linearly; lens[] the entries' lengths.
 */
struct EstVocabIndex
{
	uint32_t	mask;			/* places - 1, places a power of 2 */
	int32_t    *table;
	uint32_t   *lens;
};

/*
 * The distinct values of a learned vocabulary seen while encoding, in
 * order of first appearance: a value's provisional id is its position.
 */
typedef struct PendingDict
{
	int			n;
	int			cap;
	char	  **strs;			/* NUL-terminated copies */
	uint32_t   *lens;
	uint64_t   *hashes;
	uint32_t	mask;			/* table places - 1 */
	int32_t    *table;			/* positions, -1 for a free place */
	int			force_hash;		/* a value too long for a vocabulary was
								 * seen: the column will hash */
} PendingDict;

typedef struct Pending
{
	int			n_columns;
	PendingDict *dicts;			/* one per column, used by learned ones */
	size_t		bytes;			/* held by all of them, roughly */
} Pending;

/* what a provisional entry costs besides its bytes: its pointer, length,
 * hash, two table places and the allocator's header */
#define PENDING_ENTRY_OVERHEAD	48


/* ----------------------------------------------------------------
 * Hashes
 * ----------------------------------------------------------------
 */
static uint64_t
Mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= UINT64_C(0xbf58476d1ce4e5b9);
	z ^= z >> 27;
	z *= UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return z;
}

/*
 * EstHashString returns FNV-1a 64 of the len bytes of s, mixed by the
 * splitmix64 finaliser so that the low bits (which the modulo keeps) depend
 * on every byte.
 */
uint64_t
EstHashString(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	uint64_t	h = UINT64_C(0xcbf29ce484222325);
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return Mix64(h);
}

/*
 * EstHashFloats continues hash h over n floats, two at a time (FNV-1a's
 * step on 64-bit words rather than bytes, eight times fewer multiplies),
 * and returns it unmixed, so that a caller can chain several arrays and
 * mix once with EstHashFinish.  Start from EstHashFloats(0, ...).
 */
uint64_t
EstHashFloats(uint64_t h, const float *v, size_t n)
{
	size_t		i;

	if (h == 0)
		h = UINT64_C(0xcbf29ce484222325);
	for (i = 0; i + 1 < n; i += 2)
	{
		uint32_t	lo;
		uint32_t	hi;

		memcpy(&lo, &v[i], sizeof(lo));
		memcpy(&hi, &v[i + 1], sizeof(hi));
		h ^= (uint64_t) lo | ((uint64_t) hi << 32);
		h *= UINT64_C(0x100000001b3);
	}
	if (i < n)
	{
		uint32_t	bits;

		memcpy(&bits, &v[i], sizeof(bits));
		h ^= bits;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t
EstHashFinish(uint64_t h)
{
	return Mix64(h);
}

/*
 * EstHashCross combines the hashes of n values in order, starting from
 * n, so that ("a", "b") and ("b", "a") and ("ab") all differ.
 */
uint64_t
EstHashCross(const char *const *values, const size_t *lens, int n)
{
	uint64_t	h = (uint64_t) n;
	int			k;

	for (k = 0; k < n; k++)
		h = Mix64((h ^ EstHashString(values[k], lens[k])) + HASH_GOLDEN);
	return h;
}


/* ----------------------------------------------------------------
 * Vocabulary index
 * ----------------------------------------------------------------
 */

/* Places for n entries: a power of 2, at least 2n and 16. */
static uint32_t
TablePlaces(int n)
{
	uint32_t	places = 16;

	while (places < 2 * (uint32_t) n)
		places <<= 1;
	return places;
}

static void
VocabIndexFree(EstVocabIndex *index)
{
	if (index == NULL)
		return;
	EstFree(index->table);
	EstFree(index->lens);
	EstFree(index);
}

/*
 * VocabIndexFind returns the entry of vocab equal to the len bytes of s,
 * or -1.
 */
static int
VocabIndexFind(const EstVocabIndex *index, char *const *vocab,
			   const char *s, size_t len)
{
	uint32_t	place;

	if (index == NULL)
		return -1;
	place = (uint32_t) EstHashString(s, len) & index->mask;
	for (;;)
	{
		int32_t		e = index->table[place];

		if (e < 0)
			return -1;
		if (index->lens[e] == len && memcmp(vocab[e], s, len) == 0)
			return e;
		place = (place + 1) & index->mask;
	}
}

/*
 * VocabIndexBuild indexes the n entries of vocab.  It returns EST_EINVAL
 * with *dup set to the later of two equal entries, or EST_ENOMEM; either
 * way nothing stays allocated.
 */
static EstStatus
VocabIndexBuild(char *const *vocab, int n, EstVocabIndex **out, int *dup)
{
	EstVocabIndex *index;
	uint32_t	places = TablePlaces(n);
	int			i;

	*out = NULL;
	*dup = -1;
	index = EstAllocZero(1, sizeof(EstVocabIndex));
	if (index == NULL)
		return EST_ENOMEM;
	index->mask = places - 1;
	index->table = EstAlloc(sizeof(int32_t) * places);
	index->lens = EstAlloc(sizeof(uint32_t) * (size_t) (n > 0 ? n : 1));
	if (index->table == NULL || index->lens == NULL)
	{
		VocabIndexFree(index);
		return EST_ENOMEM;
	}
	memset(index->table, 0xFF, sizeof(int32_t) * places);
	for (i = 0; i < n; i++)
	{
		size_t		len = strlen(vocab[i]);
		uint32_t	place;

		index->lens[i] = (uint32_t) len;
		if (VocabIndexFind(index, vocab, vocab[i], len) >= 0)
		{
			*dup = i;
			VocabIndexFree(index);
			return EST_EINVAL;
		}
		place = (uint32_t) EstHashString(vocab[i], len) & index->mask;
		while (index->table[place] >= 0)
			place = (place + 1) & index->mask;
		index->table[place] = i;
	}
	*out = index;
	return EST_OK;
}


/* ----------------------------------------------------------------
 * Pending dictionaries of learned vocabularies
 * ----------------------------------------------------------------
 */
static void
PendingDictFree(PendingDict *d)
{
	int			i;

	for (i = 0; i < d->n; i++)
		EstFree(d->strs[i]);
	EstFree(d->strs);
	EstFree(d->lens);
	EstFree(d->hashes);
	EstFree(d->table);
	memset(d, 0, sizeof(*d));
}

static void
PendingFree(EstTransform *tf)
{
	Pending    *pending = tf->pending;
	int			c;

	if (pending == NULL)
		return;
	for (c = 0; c < pending->n_columns; c++)
		PendingDictFree(&pending->dicts[c]);
	EstFree(pending->dicts);
	EstFree(pending);
	tf->pending = NULL;
}

/*
 * PendingDictFind returns the position of the value, or -1.
 */
static int
PendingDictFind(const PendingDict *d, const char *s, size_t len,
				uint64_t hash)
{
	uint32_t	place;

	if (d->table == NULL)
		return -1;
	place = (uint32_t) hash & d->mask;
	for (;;)
	{
		int32_t		e = d->table[place];

		if (e < 0)
			return -1;
		if (d->hashes[e] == hash && d->lens[e] == len &&
			memcmp(d->strs[e], s, len) == 0)
			return e;
		place = (place + 1) & d->mask;
	}
}

/*
 * PendingDictGrow makes room for one more value: the arrays double, and
 * the table doubles (and is rebuilt) when it would be more than half full.
 */
static EstStatus
PendingDictGrow(PendingDict *d)
{
	if (d->n == d->cap)
	{
		int			cap = d->cap > 0 ? 2 * d->cap : 64;
		char	  **strs = EstAlloc(sizeof(char *) * (size_t) cap);
		uint32_t   *lens = EstAlloc(sizeof(uint32_t) * (size_t) cap);
		uint64_t   *hashes = EstAlloc(sizeof(uint64_t) * (size_t) cap);

		if (strs == NULL || lens == NULL || hashes == NULL)
		{
			EstFree(strs);
			EstFree(lens);
			EstFree(hashes);
			return EST_ENOMEM;
		}
		if (d->n > 0)
		{
			memcpy(strs, d->strs, sizeof(char *) * (size_t) d->n);
			memcpy(lens, d->lens, sizeof(uint32_t) * (size_t) d->n);
			memcpy(hashes, d->hashes, sizeof(uint64_t) * (size_t) d->n);
		}
		EstFree(d->strs);
		EstFree(d->lens);
		EstFree(d->hashes);
		d->strs = strs;
		d->lens = lens;
		d->hashes = hashes;
		d->cap = cap;
	}
	if (d->table == NULL || 2 * (uint32_t) (d->n + 1) > d->mask + 1)
	{
		uint32_t	places = TablePlaces(d->n + 1);
		int32_t    *table = EstAlloc(sizeof(int32_t) * places);
		int			i;

		if (table == NULL)
			return EST_ENOMEM;
		memset(table, 0xFF, sizeof(int32_t) * places);
		for (i = 0; i < d->n; i++)
		{
			uint32_t	place = (uint32_t) d->hashes[i] & (places - 1);

			while (table[place] >= 0)
				place = (place + 1) & (places - 1);
			table[place] = i;
		}
		EstFree(d->table);
		d->table = table;
		d->mask = places - 1;
	}
	return EST_OK;
}

/*
 * PendingDictAdd appends a copy of the value, whose hash is given, and
 * returns its position.
 */
static EstStatus
PendingDictAdd(PendingDict *d, const char *s, size_t len, uint64_t hash,
			   int *pos)
{
	char	   *copy;
	uint32_t	place;
	EstStatus	status;

	status = PendingDictGrow(d);
	if (status != EST_OK)
		return status;
	copy = EstAlloc(len + 1);
	if (copy == NULL)
		return EST_ENOMEM;
	memcpy(copy, s, len);
	copy[len] = '\0';
	d->strs[d->n] = copy;
	d->lens[d->n] = (uint32_t) len;
	d->hashes[d->n] = hash;
	place = (uint32_t) hash & d->mask;
	while (d->table[place] >= 0)
		place = (place + 1) & d->mask;
	d->table[place] = d->n;
	*pos = d->n++;
	return EST_OK;
}


/* ----------------------------------------------------------------
 * Declarations
 * ----------------------------------------------------------------
 */
static const char *
ColumnName(const EstFeatureColumn *col)
{
	return col->name != NULL ? col->name : "";
}

/* A learned vocabulary whose values are not known yet. */
static int
LearnsVocabulary(const EstTransform *tf, const EstFeatureColumn *col)
{
	return col->kind == EST_FC_VOCABULARY && col->learned && !tf->fitted;
}

/*
 * FreeDerived releases what EstTransformInit allocates for a column: the
 * statistics and the vocabulary index.
 */
static void
FreeDerived(EstFeatureColumn *col)
{
	EstFree(col->mean);
	EstFree(col->stddev);
	EstFree(col->min);
	EstFree(col->max);
	EstFree(col->shift);
	EstFree(col->scale);
	VocabIndexFree(col->index);
	col->mean = col->stddev = col->min = col->max = NULL;
	col->shift = col->scale = NULL;
	col->index = NULL;
}

/*
 * CheckString checks a name, key or vocabulary entry: present, not longer
 * than limit bytes and, unless empty_ok, not empty.
 */
static EstStatus
CheckString(const char *s, const char *colname, const char *what,
			int empty_ok, char *errmsg)
{
	size_t		len;

	if (s == NULL)
	{
		EstSetError(errmsg, "feature column \"%s\" has no %s", colname, what);
		return EST_EINVAL;
	}
	len = strlen(s);
	if (len == 0 && !empty_ok)
	{
		EstSetError(errmsg, "feature column \"%s\" has an empty %s", colname,
					what);
		return EST_EINVAL;
	}
	if (len > EST_MAX_VOCAB_BYTES)
	{
		EstSetError(errmsg, "feature column \"%s\" has a %s of %zu bytes, the limit is %d",
					colname, what, len, EST_MAX_VOCAB_BYTES);
		return EST_ELIMIT;
	}
	return EST_OK;
}

/*
 * CheckNumeric checks a numeric column's declaration.
 */
static EstStatus
CheckNumeric(EstFeatureColumn *col, char *errmsg)
{
	const char *name = ColumnName(col);

	if (col->shape < 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has shape %d, it needs at least 1",
					name, col->shape);
		return EST_EINVAL;
	}
	if (col->shape > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "feature column \"%s\" has shape %d, the limit is %d",
					name, col->shape, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	if (col->multi)
	{
		EstSetError(errmsg, "numeric feature column \"%s\" cannot be multi-valued",
					name);
		return EST_EINVAL;
	}
	if (col->normalizer < EST_NORM_NONE || col->normalizer > EST_NORM_MINMAX)
	{
		EstSetError(errmsg, "feature column \"%s\" has an unrecognized normalizer: %d",
					name, (int) col->normalizer);
		return EST_EINVAL;
	}
	if (col->null_policy < EST_NULL_ERROR || col->null_policy > EST_NULL_MEAN)
	{
		EstSetError(errmsg, "feature column \"%s\" has an unrecognized NULL policy: %d",
					name, (int) col->null_policy);
		return EST_EINVAL;
	}
	if (!isfinite(col->default_value))
	{
		EstSetError(errmsg, "feature column \"%s\" has a default value that is not finite",
					name);
		return EST_EINVAL;
	}
	if (col->representation != 0 && col->representation != EST_INPUT_DENSE)
	{
		EstSetError(errmsg, "numeric feature column \"%s\" can only be dense",
					name);
		return EST_EINVAL;
	}
	col->representation = EST_INPUT_DENSE;
	col->slots = col->shape;
	col->buckets = 0;
	return EST_OK;
}

/*
 * CheckBuckets checks num_buckets of an identity, hash or crossed column.
 */
static EstStatus
CheckBuckets(const EstFeatureColumn *col, char *errmsg)
{
	if (col->num_buckets < 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has %lld buckets, it needs at least 1",
					ColumnName(col), (long long) col->num_buckets);
		return EST_EINVAL;
	}
	if (col->num_buckets > EST_MAX_BUCKETS)
	{
		EstSetError(errmsg, "feature column \"%s\" has %lld buckets, the limit is %d",
					ColumnName(col), (long long) col->num_buckets,
					EST_MAX_BUCKETS);
		return EST_ELIMIT;
	}
	return EST_OK;
}

/*
 * CheckVocabulary checks a vocabulary column and indexes a given (or, in
 * a fitted transform, learned) vocabulary.
 */
static EstStatus
CheckVocabulary(const EstTransform *tf, EstFeatureColumn *col,
				char *errmsg)
{
	const char *name = ColumnName(col);
	EstStatus	status;
	int			dup;
	int			i;

	if (col->num_oov < 0 || col->num_oov > EST_MAX_VOCABULARY)
	{
		EstSetError(errmsg, "feature column \"%s\" has %d OOV buckets, the limit is %d",
					name, col->num_oov, EST_MAX_VOCABULARY);
		return col->num_oov < 0 ? EST_EINVAL : EST_ELIMIT;
	}
	if (col->learned)
	{
		if (col->max_size < 0 || col->max_size > EST_MAX_VOCABULARY)
		{
			EstSetError(errmsg, "feature column \"%s\" has a vocabulary size bound of %d, the limit is %d",
						name, col->max_size, EST_MAX_VOCABULARY);
			return col->max_size < 0 ? EST_EINVAL : EST_ELIMIT;
		}
		if (col->hash_above < 0 || col->hash_above > EST_MAX_VOCABULARY)
		{
			EstSetError(errmsg, "feature column \"%s\" switches to hashing above %d values, the limit is %d",
						name, col->hash_above, EST_MAX_VOCABULARY);
			return col->hash_above < 0 ? EST_EINVAL : EST_ELIMIT;
		}
		if (col->hash_above == 0 &&
			(col->auto_buckets != 0 || col->auto_dimension != 0))
		{
			EstSetError(errmsg, "feature column \"%s\" sets how to hash, but never switches to hashing",
						name);
			return EST_EINVAL;
		}
		if (col->hash_above > 0)
		{
			if (col->auto_buckets < 1 || col->auto_buckets > EST_MAX_BUCKETS)
			{
				EstSetError(errmsg, "feature column \"%s\" would hash into %d buckets, it needs 1 to %d",
							name, col->auto_buckets, EST_MAX_BUCKETS);
				return col->auto_buckets < 1 ? EST_EINVAL : EST_ELIMIT;
			}
			if (col->auto_dimension < 1 ||
				col->auto_dimension > EST_MAX_EMBEDDING)
			{
				EstSetError(errmsg, "feature column \"%s\" would embed in %d dimensions, it needs 1 to %d",
							name, col->auto_dimension, EST_MAX_EMBEDDING);
				return col->auto_dimension < 1 ? EST_EINVAL : EST_ELIMIT;
			}
		}
		if (!tf->fitted)
		{
			if (col->vocab_size != 0 || col->vocab != NULL ||
				col->vocab_counts != NULL)
			{
				EstSetError(errmsg, "feature column \"%s\" learns its vocabulary, but has one",
							name);
				return EST_EINVAL;
			}
			col->buckets = 0;	/* known after the fit */
			return EST_OK;
		}
	}
	if (col->vocab_size < 0)
	{
		EstSetError(errmsg, "feature column \"%s\" has a vocabulary of %d entries",
					name, col->vocab_size);
		return EST_EINVAL;
	}
	if (col->vocab_size > EST_MAX_VOCABULARY)
	{
		EstSetError(errmsg, "feature column \"%s\" has a vocabulary of %d entries, the limit is %d",
					name, col->vocab_size, EST_MAX_VOCABULARY);
		return EST_ELIMIT;
	}
	if (col->vocab_size > 0 && col->vocab == NULL)
	{
		EstSetError(errmsg, "feature column \"%s\" has no vocabulary entries",
					name);
		return EST_EINVAL;
	}
	if (col->vocab_size + col->num_oov < 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has an empty vocabulary and no OOV bucket",
					name);
		return EST_EINVAL;
	}
	for (i = 0; i < col->vocab_size; i++)
	{
		status = CheckString(col->vocab[i], name, "vocabulary entry", 1,
							 errmsg);
		if (status != EST_OK)
			return status;
	}
	status = VocabIndexBuild(col->vocab, col->vocab_size, &col->index, &dup);
	if (status == EST_EINVAL)
	{
		EstSetError(errmsg, "feature column \"%s\" has the vocabulary entry \"%s\" twice",
					name, col->vocab[dup]);
		return EST_EINVAL;
	}
	if (status != EST_OK)
	{
		EstSetError(errmsg, "could not allocate the vocabulary index of feature column \"%s\"",
					name);
		return status;
	}
	col->buckets = (int64_t) col->vocab_size + col->num_oov;
	return EST_OK;
}

/*
 * CheckCategorical checks a categorical column's declaration, sets its
 * defaults (indicator, mean combiner, 32 values) and its slots and buckets.
 */
static EstStatus
CheckCategorical(const EstTransform *tf, EstFeatureColumn *col,
				 char *errmsg)
{
	const char *name = ColumnName(col);
	EstStatus	status = EST_OK;
	int			b;

	if (col->multi != 0 && col->multi != 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has an invalid multi-valued flag: %d",
					name, col->multi);
		return EST_EINVAL;
	}
	if (col->multi)
	{
		if (col->max_values == 0)
			col->max_values = DEFAULT_MAX_VALUES;
		if (col->max_values < 1 || col->max_values > EST_MAX_MULTI)
		{
			EstSetError(errmsg, "feature column \"%s\" takes %d values a row, the limit is %d",
						name, col->max_values, EST_MAX_MULTI);
			return col->max_values < 1 ? EST_EINVAL : EST_ELIMIT;
		}
	}
	col->slots = col->multi ? col->max_values : 1;

	if (col->representation == 0)
		col->representation = EST_INPUT_INDICATOR;
	if (col->representation == EST_INPUT_EMBEDDING)
	{
		if (col->dimension < 1 || col->dimension > EST_MAX_EMBEDDING)
		{
			EstSetError(errmsg, "feature column \"%s\" has embedding dimension %d, it needs 1 to %d",
						name, col->dimension, EST_MAX_EMBEDDING);
			return col->dimension < 1 ? EST_EINVAL : EST_ELIMIT;
		}
		if (col->combiner == 0)
			col->combiner = EST_COMBINER_MEAN;
		if (col->combiner < EST_COMBINER_SUM ||
			col->combiner > EST_COMBINER_SQRTN)
		{
			EstSetError(errmsg, "feature column \"%s\" has an unrecognized combiner: %d",
						name, (int) col->combiner);
			return EST_EINVAL;
		}
	}
	else if (col->representation != EST_INPUT_INDICATOR)
	{
		EstSetError(errmsg, "categorical feature column \"%s\" must be an indicator or an embedding",
					name);
		return EST_EINVAL;
	}

	switch (col->kind)
	{
		case EST_FC_BUCKETIZED:
			if (col->n_boundaries < 1 || col->boundaries == NULL)
			{
				EstSetError(errmsg, "feature column \"%s\" needs at least 1 boundary",
							name);
				return EST_EINVAL;
			}
			if (col->n_boundaries > EST_MAX_BUCKETS - 1)
			{
				EstSetError(errmsg, "feature column \"%s\" has %d boundaries, the limit is %d",
							name, col->n_boundaries, EST_MAX_BUCKETS - 1);
				return EST_ELIMIT;
			}
			for (b = 0; b < col->n_boundaries; b++)
			{
				if (!isfinite(col->boundaries[b]) ||
					(b > 0 && !(col->boundaries[b] > col->boundaries[b - 1])))
				{
					EstSetError(errmsg, "feature column \"%s\" has boundaries that are not finite and strictly increasing",
								name);
					return EST_EINVAL;
				}
			}
			col->buckets = (int64_t) col->n_boundaries + 1;
			break;
		case EST_FC_VOCABULARY:
			status = CheckVocabulary(tf, col, errmsg);
			break;
		case EST_FC_IDENTITY:
			status = CheckBuckets(col, errmsg);
			if (status == EST_OK && (col->default_id < -1 ||
									 col->default_id >= col->num_buckets))
			{
				EstSetError(errmsg, "feature column \"%s\" has default id %lld, outside [0, %lld)",
							name, (long long) col->default_id,
							(long long) col->num_buckets);
				status = EST_EINVAL;
			}
			col->buckets = col->num_buckets;
			break;
		case EST_FC_HASH:
		case EST_FC_CROSSED:
			status = CheckBuckets(col, errmsg);
			col->buckets = col->num_buckets;
			break;
		default:
			break;
	}
	return status;
}

/*
 * CheckColumn checks column c of tf and sets its slots and buckets.
 */
static EstStatus
CheckColumn(const EstTransform *tf, int c, char *errmsg)
{
	EstFeatureColumn *col = &tf->columns[c];
	const char *name;
	EstStatus	status;
	int			want_keys;
	int			k;

	if (col->name == NULL || (col->name[0] == '\0' && !tf->legacy))
	{
		EstSetError(errmsg, "feature column %d has no name", c + 1);
		return EST_EINVAL;
	}
	name = col->name;
	if (strlen(name) > EST_MAX_VOCAB_BYTES)
	{
		EstSetError(errmsg, "feature column %d has a name of %zu bytes, the limit is %d",
					c + 1, strlen(name), EST_MAX_VOCAB_BYTES);
		return EST_ELIMIT;
	}
	for (k = 0; k < c; k++)
	{
		if (strcmp(tf->columns[k].name, name) == 0)
		{
			EstSetError(errmsg, "feature column \"%s\" is declared twice",
						name);
			return EST_EINVAL;
		}
	}
	if (col->kind < EST_FC_NUMERIC || col->kind > EST_FC_CROSSED)
	{
		EstSetError(errmsg, "feature column \"%s\" has an unrecognized kind: %d",
					name, (int) col->kind);
		return EST_EINVAL;
	}
	want_keys = col->kind == EST_FC_CROSSED ? 2 : 1;
	if (col->n_keys < want_keys ||
		col->n_keys > (col->kind == EST_FC_CROSSED ? MAX_CROSSED_KEYS : 1) ||
		col->keys == NULL)
	{
		EstSetError(errmsg, "feature column \"%s\" reads %d source columns, it needs %s",
					name, col->n_keys,
					col->kind == EST_FC_CROSSED ? "2 to 8" : "1");
		return EST_EINVAL;
	}
	for (k = 0; k < col->n_keys; k++)
	{
		status = CheckString(col->keys[k], name, "source column", tf->legacy,
							 errmsg);
		if (status != EST_OK)
			return status;
	}
	if (col->kind == EST_FC_NUMERIC)
		return CheckNumeric(col, errmsg);
	return CheckCategorical(tf, col, errmsg);
}

/*
 * AllocStats allocates a numeric column's statistics: zero, but shift 0
 * and scale 1 (the identity).
 */
static EstStatus
AllocStats(EstFeatureColumn *col, char *errmsg)
{
	size_t		n = (size_t) col->shape;
	size_t		j;

	col->mean = EstAllocZero(n, sizeof(double));
	col->stddev = EstAllocZero(n, sizeof(double));
	col->min = EstAllocZero(n, sizeof(double));
	col->max = EstAllocZero(n, sizeof(double));
	col->shift = EstAllocZero(n, sizeof(double));
	col->scale = EstAllocZero(n, sizeof(double));
	if (col->mean == NULL || col->stddev == NULL || col->min == NULL ||
		col->max == NULL || col->shift == NULL || col->scale == NULL)
	{
		EstSetError(errmsg, "could not allocate the statistics of feature column \"%s\"",
					ColumnName(col));
		return EST_ENOMEM;
	}
	for (j = 0; j < n; j++)
		col->scale[j] = 1.0;
	return EST_OK;
}

/*
 * EstTransformInit checks every declared column, fills in the defaults
 * (indicator representation, mean combiner, 32 values of a multi-valued
 * column, dense numeric columns), lays the columns out in the compact row
 * (offset, slots, n_inputs), sets their buckets, allocates the numeric
 * statistics (shift 0, scale 1) and indexes the vocabularies.  Names,
 * source columns and vocabulary entries are at most EST_MAX_VOCAB_BYTES
 * bytes; names are unique.
 *
 * A learned vocabulary has no entries until the fit (its buckets are 0
 * until then), unless tf->fitted is already set: the checkpoint decoder
 * builds a fitted transform whose learned vocabularies are checked and
 * indexed like given ones.  tf->legacy allows an empty name and source
 * column.  A transform with no numeric column and no learned vocabulary
 * is fitted at once.
 *
 * On failure the declared columns stay as they were given (the caller
 * releases them with EstTransformFree) and nothing that EstTransformInit
 * allocated remains.
 */
EstStatus
EstTransformInit(EstTransform *tf, char *errmsg)
{
	int64_t		offset = 0;
	int			learns = 0;
	EstStatus	status = EST_OK;
	int			c;

	PendingFree(tf);
	tf->n_inputs = 0;
	if (tf->n_columns < 1 || tf->columns == NULL)
	{
		EstSetError(errmsg, "a transform needs at least 1 feature column");
		return EST_EINVAL;
	}
	if (tf->n_columns > EST_MAX_SEGMENTS)
	{
		EstSetError(errmsg, "transform has %d feature columns, the limit is %d",
					tf->n_columns, EST_MAX_SEGMENTS);
		return EST_ELIMIT;
	}
	for (c = 0; c < tf->n_columns; c++)
		FreeDerived(&tf->columns[c]);
	for (c = 0; c < tf->n_columns && status == EST_OK; c++)
	{
		EstFeatureColumn *col = &tf->columns[c];

		status = CheckColumn(tf, c, errmsg);
		if (status != EST_OK)
			break;
		col->offset = (int) offset;
		offset += col->slots;
		if (offset > EST_MAX_UNITS)
		{
			EstSetError(errmsg, "transform needs %lld inputs, the limit is %d",
						(long long) offset, EST_MAX_UNITS);
			status = EST_ELIMIT;
			break;
		}
		if (col->kind == EST_FC_NUMERIC)
		{
			status = AllocStats(col, errmsg);
			learns = 1;
		}
		if (LearnsVocabulary(tf, col))
			learns = 1;
	}
	if (status != EST_OK)
	{
		for (c = 0; c < tf->n_columns; c++)
			FreeDerived(&tf->columns[c]);
		return status;
	}
	tf->n_inputs = (int) offset;
	if (!learns)
		tf->fitted = 1;
	return EST_OK;
}

/*
 * EstTransformFree releases the columns with everything they own, the
 * pending dictionaries, and zeroes tf.
 */
void
EstTransformFree(EstTransform *tf)
{
	int			c;
	int			i;

	PendingFree(tf);
	for (c = 0; tf->columns != NULL && c < tf->n_columns; c++)
	{
		EstFeatureColumn *col = &tf->columns[c];

		FreeDerived(col);
		EstFree(col->name);
		for (i = 0; col->keys != NULL && i < col->n_keys; i++)
			EstFree(col->keys[i]);
		EstFree(col->keys);
		EstFree(col->boundaries);
		for (i = 0; col->vocab != NULL && i < col->vocab_size; i++)
			EstFree(col->vocab[i]);
		EstFree(col->vocab);
		EstFree(col->vocab_counts);
	}
	EstFree(tf->columns);
	memset(tf, 0, sizeof(*tf));
}

/*
 * EstTransformSegments writes the network's input segment of each column:
 * numeric columns are dense, categorical ones an indicator or an
 * embedding of their buckets (0 for a learned vocabulary not yet fitted).
 */
void
EstTransformSegments(const EstTransform *tf, EstInputSegment *segments)
{
	int			c;

	for (c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *col = &tf->columns[c];
		EstInputSegment *seg = &segments[c];

		memset(seg, 0, sizeof(*seg));
		seg->slots = col->slots;
		if (col->kind == EST_FC_NUMERIC)
		{
			seg->kind = EST_INPUT_DENSE;
			continue;
		}
		seg->kind = col->representation;
		seg->buckets = (int) col->buckets;
		if (seg->kind == EST_INPUT_EMBEDDING)
		{
			seg->dimension = col->dimension;
			seg->combiner = col->combiner;
		}
	}
}

/*
 * EstTransformInputWidth returns the width of the input vector: dense
 * slots, indicator buckets and embedding dimensions, or INT_MAX when that
 * is wider (the network then refuses it).
 */
int
EstTransformInputWidth(const EstTransform *tf)
{
	int64_t		width = 0;
	int			c;

	for (c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *col = &tf->columns[c];

		if (col->kind == EST_FC_NUMERIC)
			width += col->slots;
		else if (col->representation == EST_INPUT_EMBEDDING)
			width += col->dimension;
		else
			width += col->buckets;
		if (width > INT_MAX)
			return INT_MAX;
	}
	return (int) width;
}


/* ----------------------------------------------------------------
 * Encoders
 * ----------------------------------------------------------------
 */

/*
 * OovId returns the id of a value missing from the vocabulary: one of the
 * OOV buckets after the entries, or -1 when there is none.
 */
static float
OovId(const EstFeatureColumn *col, const char *s, size_t len)
{
	if (col->num_oov <= 0)
		return -1.0f;
	return (float) ((uint64_t) col->vocab_size +
					EstHashString(s, len) % (uint64_t) col->num_oov);
}

/*
 * LearnString gives the value its provisional id in the column's pending
 * dictionary, adding it when it is new.
 */
static EstStatus
LearnString(EstTransform *tf, int col_no, const char *s, size_t len,
			float *slot, char *errmsg)
{
	const EstFeatureColumn *col = &tf->columns[col_no];
	Pending    *pending = tf->pending;
	PendingDict *d;
	uint64_t	hash;
	int			limit;
	int			pos;
	EstStatus	status;
	char		long_key[19];

	if (len > EST_MAX_VOCAB_BYTES && col->hash_above == 0)
	{
		EstSetError(errmsg, "feature column \"%s\" has a value of %zu bytes, the limit for a vocabulary entry is %d",
					ColumnName(col), len, EST_MAX_VOCAB_BYTES);
		return EST_EINVAL;
	}
	if (memchr(s, '\0', len) != NULL)
	{
		EstSetError(errmsg, "feature column \"%s\" has a value with a zero byte",
					ColumnName(col));
		return EST_EINVAL;
	}
	if (pending == NULL)
	{
		pending = EstAllocZero(1, sizeof(Pending));
		if (pending == NULL ||
			(pending->dicts = EstAllocZero((size_t) tf->n_columns,
										   sizeof(PendingDict))) == NULL)
		{
			EstFree(pending);
			EstSetError(errmsg, "could not allocate the vocabulary of feature column \"%s\"",
						ColumnName(col));
			return EST_ENOMEM;
		}
		pending->n_columns = tf->n_columns;
		tf->pending = pending;
	}
	d = &pending->dicts[col_no];
	hash = EstHashString(s, len);
	if (len > EST_MAX_VOCAB_BYTES)
	{
		/*
		 * A value too long for a vocabulary, in a column that may switch to
		 * hashing: it will, and the value is kept as its hash only (the
		 * bytes 0x01 0x01 and 16 hex digits, with the value's own hash).
		 */
		static const char hex[] = "0123456789abcdef";

		for (pos = 0; pos < 16; pos++)
			long_key[2 + pos] = hex[(hash >> (60 - 4 * pos)) & 0xF];
		long_key[0] = long_key[1] = '\x01';
		long_key[18] = '\0';
		s = long_key;
		len = 18;
		d->force_hash = 1;
	}
	pos = PendingDictFind(d, s, len, hash);
	if (pos < 0)
	{
		/* provisional ids stay exact in a float */
		limit = col->hash_above > 0 ? EST_MAX_BUCKETS : EST_MAX_VOCABULARY;
		if (d->n >= limit)
		{
			EstSetError(errmsg, "feature column \"%s\" has %d distinct values, the limit is %d",
						ColumnName(col), d->n + 1, limit);
			return EST_ELIMIT;
		}
		if (tf->learn_budget > 0 &&
			pending->bytes + len + PENDING_ENTRY_OVERHEAD > tf->learn_budget)
		{
			EstSetError(errmsg, "the distinct values of feature column \"%s\" take more than %zu kB",
						ColumnName(col), tf->learn_budget / 1024);
			return EST_ELIMIT;
		}
		pending->bytes += len + PENDING_ENTRY_OVERHEAD;
		status = PendingDictAdd(d, s, len, hash, &pos);
		if (status != EST_OK)
		{
			EstSetError(errmsg, "could not allocate the vocabulary of feature column \"%s\"",
						ColumnName(col));
			return status;
		}
	}
	*slot = (float) pos;
	return EST_OK;
}

/*
 * EstTransformString encodes a UTF-8 value of a vocabulary or hash column
 * (a learned vocabulary before the fit: its provisional id).  Identity,
 * bucketized, crossed and numeric columns do not take strings.
 */
EstStatus
EstTransformString(EstTransform *tf, int col_no, const char *s, size_t len,
				   float *slot, char *errmsg)
{
	const EstFeatureColumn *col = &tf->columns[col_no];
	int			e;

	switch (col->kind)
	{
		case EST_FC_VOCABULARY:
			if (LearnsVocabulary(tf, col))
				return LearnString(tf, col_no, s, len, slot, errmsg);
			e = VocabIndexFind(col->index, col->vocab, s, len);
			*slot = e >= 0 ? (float) e : OovId(col, s, len);
			return EST_OK;
		case EST_FC_HASH:
			*slot = (float) (EstHashString(s, len) %
							 (uint64_t) col->num_buckets);
			return EST_OK;
		case EST_FC_IDENTITY:
			EstSetError(errmsg, "identity feature column \"%s\" takes integers, not text",
						ColumnName(col));
			return EST_EINVAL;
		case EST_FC_BUCKETIZED:
		case EST_FC_NUMERIC:
			EstSetError(errmsg, "feature column \"%s\" takes numbers, not text",
						ColumnName(col));
			return EST_EINVAL;
		default:
			EstSetError(errmsg, "crossed feature column \"%s\" takes the values of its source columns",
						ColumnName(col));
			return EST_EINVAL;
	}
}

/*
 * EstTransformInteger encodes an integer: an identity column takes it as
 * its id (or default_id when out of range), a bucketized column as a
 * number, vocabulary and hash columns as its decimal text.
 */
EstStatus
EstTransformInteger(EstTransform *tf, int col_no, int64_t v, float *slot,
					char *errmsg)
{
	const EstFeatureColumn *col = &tf->columns[col_no];
	char		text[32];
	int			len;

	switch (col->kind)
	{
		case EST_FC_IDENTITY:
			if (v >= 0 && v < col->num_buckets)
				*slot = (float) v;
			else if (col->default_id >= 0)
				*slot = (float) col->default_id;
			else
			{
				EstSetError(errmsg, "feature column \"%s\" has value %lld, outside [0, %lld)",
							ColumnName(col), (long long) v,
							(long long) col->num_buckets);
				return EST_EINVAL;
			}
			return EST_OK;
		case EST_FC_BUCKETIZED:
			EstTransformBucket(tf, col_no, (double) v, slot);
			return EST_OK;
		case EST_FC_VOCABULARY:
		case EST_FC_HASH:
			len = snprintf(text, sizeof(text), "%lld", (long long) v);
			return EstTransformString(tf, col_no, text, (size_t) len, slot,
									  errmsg);
		default:
			return EstTransformString(tf, col_no, "", 0, slot, errmsg);
	}
}

/*
 * EstTransformBucket writes the bucket of a bucketized column's value:
 * the number of boundaries <= v, found by bisection (0 for NaN).  Other
 * kinds get no id.
 */
void
EstTransformBucket(const EstTransform *tf, int col_no, double v, float *slot)
{
	const EstFeatureColumn *col = &tf->columns[col_no];
	int			lo = 0;
	int			hi;

	if (col->kind != EST_FC_BUCKETIZED)
	{
		*slot = -1.0f;
		return;
	}
	hi = col->n_boundaries;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (col->boundaries[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	*slot = (float) lo;
}

/*
 * NullId is the final id of a categorical NULL: the first OOV bucket of a
 * vocabulary that has one, the default id of an identity column, else
 * none.
 */
static float
NullId(const EstFeatureColumn *col)
{
	if (col->kind == EST_FC_VOCABULARY && col->num_oov > 0)
		return (float) col->vocab_size;
	if (col->kind == EST_FC_IDENTITY)
		return (float) col->default_id;
	return -1.0f;
}

/*
 * EstTransformNull writes the id of a categorical NULL; before the fit,
 * the provisional marker that EstTransformFit counts and replaces.
 */
void
EstTransformNull(const EstTransform *tf, int col_no, float *slot)
{
	*slot = tf->fitted ? NullId(&tf->columns[col_no]) : PROVISIONAL_NULL;
}

/*
 * EstTransformCross writes the bucket of a crossed column's values.
 */
void
EstTransformCross(const EstTransform *tf, int col_no,
				  const char *const *values, const size_t *lens, float *slot)
{
	const EstFeatureColumn *col = &tf->columns[col_no];

	if (col->kind != EST_FC_CROSSED)
	{
		*slot = -1.0f;
		return;
	}
	*slot = (float) (EstHashCross(values, lens, col->n_keys) %
					 (uint64_t) col->num_buckets);
}


/* ----------------------------------------------------------------
 * Fitting
 * ----------------------------------------------------------------
 */

/*
 * What the fit of a learned vocabulary decides, before anything changes:
 * the final id of each provisional id, and the new vocabulary.
 */
typedef struct VocabPlan
{
	int			active;
	int			to_hash;		/* too many values: becomes a hash column */
	int32_t    *map;			/* provisional id -> final id or -1 */
	int			vocab_size;
	char	  **vocab;
	int64_t    *counts;
	EstVocabIndex *index;
} VocabPlan;

typedef struct RankedValue
{
	int64_t		count;
	const char *s;
	uint32_t	len;
	int32_t		id;
} RankedValue;

/* Most frequent first, then by the bytes, a prefix first. */
static int
CompareRanked(const void *a, const void *b)
{
	const RankedValue *x = a;
	const RankedValue *y = b;
	int			cmp;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	cmp = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (cmp != 0)
		return cmp;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return 0;
}

static void
VocabPlanFree(VocabPlan *plan)
{
	int			i;

	EstFree(plan->map);
	for (i = 0; plan->vocab != NULL && i < plan->vocab_size; i++)
		EstFree(plan->vocab[i]);
	EstFree(plan->vocab);
	EstFree(plan->counts);
	VocabIndexFree(plan->index);
	memset(plan, 0, sizeof(*plan));
}

/*
 * SlotId reads a categorical slot: its integer id, -1 for an empty slot,
 * -2 for a provisional NULL, or INT32_MIN for anything else.
 */
static int32_t
SlotId(float v)
{
	if (v == PROVISIONAL_NULL)
		return -2;
	if (v >= -1.0f && v < (float) EST_MAX_BUCKETS && v == floorf(v))
		return (int32_t) v;
	return INT32_MIN;
}

/*
 * PlanVocabulary counts the provisional ids of column col in the fit rows
 * (each slot, not each row) and decides the column's vocabulary: the
 * values seen in the fit rows, most frequent first, at most max_size of
 * them; or, with more than hash_above values (or a value too long for a
 * vocabulary), a switch to hashing.
 */
static EstStatus
PlanVocabulary(const EstTransform *tf, int col_no, const float *X,
			   size_t n_fit, size_t n_rows, VocabPlan *plan, char *errmsg)
{
	const EstFeatureColumn *col = &tf->columns[col_no];
	const Pending *pending = tf->pending;
	const PendingDict *d = pending != NULL ? &pending->dicts[col_no] : NULL;
	int			n = d != NULL ? d->n : 0;
	int64_t    *seen;
	RankedValue *ranked;
	int			n_seen = 0;
	int			keep;
	size_t		i;
	int			j;

	memset(plan, 0, sizeof(*plan));
	plan->active = 1;
	seen = EstAllocZero((size_t) (n > 0 ? n : 1), sizeof(int64_t));
	if (seen == NULL)
		goto nomem;
	for (i = 0; i < n_rows; i++)
	{
		const float *slots = X + i * (size_t) tf->n_inputs + col->offset;

		for (j = 0; j < col->slots; j++)
		{
			int32_t		id = SlotId(slots[j]);

			if (id == INT32_MIN || id >= n)
			{
				EstSetError(errmsg, "feature column \"%s\" holds %g in row %zu, which is not a provisional id",
							ColumnName(col), (double) slots[j], i + 1);
				EstFree(seen);
				return EST_EINVAL;
			}
			if (id >= 0 && i < n_fit && seen[id]++ == 0)
				n_seen++;
		}
	}

	plan->map = EstAlloc(sizeof(int32_t) * (size_t) (n > 0 ? n : 1));
	if (plan->map == NULL)
		goto nomem;
	if (col->hash_above > 0 &&
		(n_seen > col->hash_above || (d != NULL && d->force_hash)))
	{
		for (j = 0; j < n; j++)
			plan->map[j] = (int32_t) (d->hashes[j] %
									  (uint64_t) col->auto_buckets);
		plan->to_hash = 1;
		EstFree(seen);
		return EST_OK;
	}

	keep = n_seen;
	if (col->max_size > 0 && keep > col->max_size)
		keep = col->max_size;
	if (keep + col->num_oov < 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has no value in the training rows and no OOV bucket",
					ColumnName(col));
		EstFree(seen);
		VocabPlanFree(plan);
		return EST_EINVAL;
	}
	ranked = EstAlloc(sizeof(RankedValue) * (size_t) (n_seen > 0 ? n_seen : 1));
	plan->vocab = EstAllocZero((size_t) (keep > 0 ? keep : 1), sizeof(char *));
	plan->counts = EstAlloc(sizeof(int64_t) * (size_t) (keep > 0 ? keep : 1));
	if (ranked == NULL || plan->vocab == NULL || plan->counts == NULL)
	{
		EstFree(ranked);
		goto nomem;
	}
	n_seen = 0;
	for (j = 0; j < n; j++)
	{
		plan->map[j] = -1;
		if (seen[j] > 0)
		{
			ranked[n_seen].count = seen[j];
			ranked[n_seen].s = d->strs[j];
			ranked[n_seen].len = d->lens[j];
			ranked[n_seen].id = j;
			n_seen++;
		}
	}
	qsort(ranked, (size_t) n_seen, sizeof(RankedValue), CompareRanked);
	for (j = 0; j < keep; j++)
	{
		plan->vocab[j] = EstAlloc((size_t) ranked[j].len + 1);
		if (plan->vocab[j] == NULL)
		{
			EstFree(ranked);
			plan->vocab_size = j;
			goto nomem;
		}
		memcpy(plan->vocab[j], ranked[j].s, (size_t) ranked[j].len + 1);
		plan->counts[j] = ranked[j].count;
		plan->map[ranked[j].id] = j;
	}
	plan->vocab_size = keep;
	EstFree(ranked);
	EstFree(seen);
	seen = NULL;
	{
		int			dup;

		if (VocabIndexBuild(plan->vocab, keep, &plan->index, &dup) != EST_OK)
			goto nomem;
	}
	/* values cut or not seen in the fit rows go to the OOV buckets */
	for (j = 0; j < n; j++)
		if (plan->map[j] < 0 && col->num_oov > 0)
			plan->map[j] = (int32_t) (keep + (int64_t)
									  (d->hashes[j] % (uint64_t) col->num_oov));
	return EST_OK;

nomem:
	EstFree(seen);
	VocabPlanFree(plan);
	EstSetError(errmsg, "could not allocate the vocabulary of feature column \"%s\"",
				ColumnName(col));
	return EST_ENOMEM;
}

/*
 * EstFeatureColumnToHash makes an inferred vocabulary column what fitting
 * makes of it when its rows hold more than hash_above values: a hash
 * column of auto_buckets buckets embedded in auto_dimension dimensions,
 * the vocabulary's own settings cleared, exactly a declared hash column.
 */
void
EstFeatureColumnToHash(EstFeatureColumn *col)
{
	col->kind = EST_FC_HASH;
	col->num_buckets = col->auto_buckets;
	col->buckets = col->auto_buckets;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = col->auto_dimension;
	col->combiner = EST_COMBINER_MEAN;
	col->learned = 0;
	col->max_size = 0;
	col->num_oov = 0;
	col->hash_above = 0;
	col->auto_buckets = 0;
	col->auto_dimension = 0;
}

/*
 * InstallPlan gives the column its learned vocabulary, or makes it a hash
 * column (EstFeatureColumnToHash).
 */
static void
InstallPlan(EstFeatureColumn *col, VocabPlan *plan)
{
	if (plan->to_hash)
	{
		EstFeatureColumnToHash(col);
		return;
	}
	col->vocab = plan->vocab;
	col->vocab_size = plan->vocab_size;
	col->vocab_counts = plan->counts;
	col->index = plan->index;
	col->buckets = (int64_t) plan->vocab_size + col->num_oov;
	plan->vocab = NULL;
	plan->counts = NULL;
	plan->index = NULL;
}

/*
 * SlotStats is the running Welford state of one numeric slot.
 */
typedef struct SlotStats
{
	double		mean;
	double		m2;
	double		lo;
	double		hi;
	size_t		k;				/* values seen (NULLs left out) */
	size_t		nulls;
	int			offset;			/* the slot's input */
} SlotStats;

#define FIT_CHUNK_ROWS	64
#define FIT_SLOT_BLOCK	8
#define FIT_RUN_SLOTS	32
#define NORMALISE_RUN_ROWS 64

/*
 * NumericSlots counts the slots of the numeric columns.
 */
static size_t
NumericSlots(const EstTransform *tf)
{
	size_t		n = 0;

	for (int c = 0; c < tf->n_columns; c++)
		if (tf->columns[c].kind == EST_FC_NUMERIC)
			n += (size_t) tf->columns[c].shape;
	return n;
}

/*
 * FitSlots is the Welford update of the slots st[0 .. nb) over the rows
 * [i0, i1), NULLs (NaN) counted and left out.  The block's state is kept
 * in locals: through the structs, each update waited for the last one's
 * store (the rows, floats, might alias the doubles as far as the compiler
 * knows).
 */
EST_CLONES static void
FitSlots(const float *X, int n_inputs, size_t i0, size_t i1, SlotStats *st,
		 size_t nb)
{
	SlotStats	b[FIT_SLOT_BLOCK];

	memcpy(b, st, nb * sizeof(SlotStats));
	for (size_t i = i0; i < i1; i++)
	{
		const float *row = X + i * (size_t) n_inputs;

		for (size_t k = 0; k < nb; k++)
		{
			SlotStats  *s = &b[k];
			double		x = row[s->offset];
			double		d;

			if (isnan(x))
			{
				s->nulls++;
				continue;
			}
			if (s->k == 0 || x < s->lo)
				s->lo = x;
			if (s->k == 0 || x > s->hi)
				s->hi = x;
			d = x - s->mean;
			s->mean += d / (double) (s->k + 1);
			s->m2 += d * (x - s->mean);
			s->k++;
		}
	}
	memcpy(st, b, nb * sizeof(SlotStats));
}

/*
 * FitRun is FitSlots for nb slots at consecutive inputs that have all seen
 * the same number of values, at least one, over rows that hold no NULL in
 * them: the same operations in the same order for each slot, with one
 * divisor a row, so that the compiler does the slots of a row in vector
 * instructions.
 */
EST_CLONES static void
FitRun(const float *X, int n_inputs, size_t i0, size_t i1, SlotStats *st,
	   size_t nb)
{
	double		mean[FIT_RUN_SLOTS];
	double		m2[FIT_RUN_SLOTS];
	double		lo[FIT_RUN_SLOTS];
	double		hi[FIT_RUN_SLOTS];
	size_t		k = st[0].k;

	for (size_t j = 0; j < nb; j++)
	{
		mean[j] = st[j].mean;
		m2[j] = st[j].m2;
		lo[j] = st[j].lo;
		hi[j] = st[j].hi;
	}
	for (size_t i = i0; i < i1; i++, k++)
	{
		const float *v = X + i * (size_t) n_inputs + st[0].offset;
		double		kk = (double) (k + 1);

		for (size_t j = 0; j < nb; j++)
		{
			double		x = v[j];
			double		d = x - mean[j];

			lo[j] = x < lo[j] ? x : lo[j];
			hi[j] = x > hi[j] ? x : hi[j];
			mean[j] += d / kk;
			m2[j] += d * (x - mean[j]);
		}
	}
	for (size_t j = 0; j < nb; j++)
	{
		st[j].mean = mean[j];
		st[j].m2 = m2[j];
		st[j].lo = lo[j];
		st[j].hi = hi[j];
		st[j].k = k;
	}
}

/*
 * RunHasNull says whether rows [i0, i1) hold a NULL (NaN) in the nb inputs
 * from offset on.
 */
EST_CLONES static int
RunHasNull(const float *X, int n_inputs, size_t i0, size_t i1, int offset,
		   size_t nb)
{
	int			nan = 0;

	for (size_t i = i0; i < i1; i++)
	{
		const float *v = X + i * (size_t) n_inputs + offset;

		for (size_t j = 0; j < nb; j++)
			nan |= v[j] != v[j];
	}
	return nan != 0;
}

/*
 * FitNumericStats computes the statistics of each slot of every numeric
 * column over the fit rows, NaN (NULL) left out (SetNumericStats then sets
 * shift and scale from them).  It reads the rows once, in order, each slot's state in st (NumericSlots
 * entries, zeroed); walking one column at a time down the whole matrix
 * read it once a column and took longer than training an epoch.  Each
 * slot sees its values in row order, so the doubles are those of the
 * Welford loop of EstFeatureStateFit: a column without NULLs gets the
 * very same ones.
 */
static void
FitNumericStats(const EstTransform *tf, const float *X, size_t n_fit,
				SlotStats *st)
{
	size_t		n_slots = 0;

	for (int c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *col = &tf->columns[c];

		if (col->kind != EST_FC_NUMERIC)
			continue;
		for (int j = 0; j < col->shape; j++)
			st[n_slots++].offset = col->offset + j;
	}

	/*
	 * A few rows at a time, which stay in the cache, over runs of slots at
	 * consecutive inputs: a run without NULLs in the rows goes through
	 * FitRun, any other a few slots at a time through FitSlots, whose
	 * updates, each waiting on its own division, overlap.
	 */
	for (size_t i0 = 0; i0 < n_fit; i0 += FIT_CHUNK_ROWS)
	{
		size_t		i1 = i0 + FIT_CHUNK_ROWS < n_fit ? i0 + FIT_CHUNK_ROWS : n_fit;
		size_t		s1;

		for (size_t s0 = 0; s0 < n_slots; s0 = s1)
		{
			s1 = s0 + 1;
			while (s1 < n_slots && s1 - s0 < FIT_RUN_SLOTS &&
				   st[s1].offset == st[s1 - 1].offset + 1 &&
				   st[s1].k == st[s0].k)
				s1++;
			if (st[s0].k > 0 &&
				!RunHasNull(X, tf->n_inputs, i0, i1, st[s0].offset, s1 - s0))
				FitRun(X, tf->n_inputs, i0, i1, &st[s0], s1 - s0);
			else
				for (size_t b0 = s0; b0 < s1; b0 += FIT_SLOT_BLOCK)
					FitSlots(X, tf->n_inputs, i0, i1, &st[b0],
							 s1 - b0 < FIT_SLOT_BLOCK ? s1 - b0 : FIT_SLOT_BLOCK);
		}
	}
}

/*
 * SetNumericStats sets the statistics, shift and scale of every numeric
 * column from the slots' states st (in the order of FitNumericStats).
 * Statistics that are not finite (an infinite value) are kept as 0; the
 * standard deviation of no value is 0.
 */
static void
SetNumericStats(EstTransform *tf, const SlotStats *st)
{
	for (int c = 0; c < tf->n_columns; c++)
	{
		EstFeatureColumn *col = &tf->columns[c];

		if (col->kind != EST_FC_NUMERIC)
			continue;
		col->null_count = 0;
		col->value_count = 0;
		for (int j = 0; j < col->shape; j++, st++)
		{
			double		mean = st->mean;
			double		lo = st->lo;
			double		hi = st->hi;
			double		sd = st->k > 0 ? sqrt(st->m2 / (double) st->k) : 0.0;

			col->null_count += (int64_t) st->nulls;
			col->value_count += (int64_t) st->k;
			col->mean[j] = isfinite(mean) ? mean : 0.0;
			col->stddev[j] = isfinite(sd) ? sd : 0.0;
			col->min[j] = isfinite(lo) ? lo : 0.0;
			col->max[j] = isfinite(hi) ? hi : 0.0;
			switch (col->normalizer)
			{
				case EST_NORM_ZSCORE:
					col->shift[j] = isfinite(mean) ? mean : 0.0;
					col->scale[j] = (isfinite(sd) && sd > 0.0) ? sd : 1.0;
					break;
				case EST_NORM_MINMAX:
					col->shift[j] = isfinite(lo) ? lo : 0.0;
					col->scale[j] = (isfinite(hi - lo) && hi - lo > 0.0) ?
						hi - lo : 1.0;
					break;
				default:
					col->shift[j] = 0.0;
					col->scale[j] = 1.0;
					break;
			}
		}
	}
}

/*
 * NormaliseValue is a numeric slot's final value: a NULL (NaN) takes the
 * column's fill (its default_value or its mean), then (x - shift) / scale,
 * in double.
 */
static inline float
NormaliseValue(double x, double fill, double shift, double scale)
{
	x = isnan(x) ? fill : x;
	return (float) ((x - shift) / scale);
}

static double
NumericFill(const EstFeatureColumn *col, int j)
{
	return col->null_policy == EST_NULL_DEFAULT ? col->default_value :
		col->mean[j];
}

/*
 * An EstNormalisePlan puts the numeric slots' fill, shift and scale side
 * by side, with each slot's input, so that each run of slots at
 * consecutive inputs is one loop the compiler does in vector instructions
 * (RunNormalisePlan).
 */
struct EstNormalisePlan
{
	size_t		n_slots;
	double	   *fill;			/* 3 x n_slots: fill, shift, scale */
	double	   *shift;
	double	   *scale;
	int		   *offset;
};

/*
 * EstTransformNormalisePlan returns the plan of tf's numeric columns, or
 * NULL when it cannot allocate it; EstNormalisePlanFree frees it.
 */
EstNormalisePlan *
EstTransformNormalisePlan(const EstTransform *tf)
{
	EstNormalisePlan *plan = EstAllocZero(1, sizeof(EstNormalisePlan));
	size_t		m = 0;

	if (plan == NULL)
		return NULL;
	plan->n_slots = NumericSlots(tf);
	plan->fill = EstAlloc(3 * plan->n_slots * sizeof(double) + 1);
	plan->offset = EstAlloc(plan->n_slots * sizeof(int) + 1);
	if (plan->fill == NULL || plan->offset == NULL)
	{
		EstNormalisePlanFree(plan);
		return NULL;
	}
	plan->shift = plan->fill + plan->n_slots;
	plan->scale = plan->shift + plan->n_slots;
	for (int c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *col = &tf->columns[c];

		if (col->kind != EST_FC_NUMERIC)
			continue;
		for (int j = 0; j < col->shape; j++, m++)
		{
			plan->fill[m] = NumericFill(col, j);
			plan->shift[m] = col->shift[j];
			plan->scale[m] = col->scale[j];
			plan->offset[m] = col->offset + j;
		}
	}
	return plan;
}

void
EstNormalisePlanFree(EstNormalisePlan *plan)
{
	if (plan == NULL)
		return;
	EstFree(plan->fill);
	EstFree(plan->offset);
	EstFree(plan);
}

/*
 * RunNormalisePlan rewrites the numeric slots of n rows of n_inputs floats
 * with NormaliseValue, a run of consecutive slots at a time.
 */
EST_CLONES static void
RunNormalisePlan(const EstNormalisePlan *plan, int n_inputs, float *X,
				 size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		float	   *row = X + i * (size_t) n_inputs;
		size_t		s1;

		for (size_t s0 = 0; s0 < plan->n_slots; s0 = s1)
		{
			float	   *v = row + plan->offset[s0];
			const double *fill = plan->fill + s0;
			const double *shift = plan->shift + s0;
			const double *scale = plan->scale + s0;
			size_t		len;

			for (s1 = s0 + 1; s1 < plan->n_slots &&
				 plan->offset[s1] == plan->offset[s1 - 1] + 1;)
				s1++;
			len = s1 - s0;
			for (size_t j = 0; j < len; j++)
				v[j] = NormaliseValue(v[j], fill[j], shift[j], scale[j]);
		}
	}
}

/*
 * NormaliseRuns is NormaliseNumeric for many rows, through a plan made for
 * them.  It returns 0, having done nothing, when it cannot allocate it.
 */
static int
NormaliseRuns(const EstTransform *tf, float *X, size_t n)
{
	EstNormalisePlan *plan = EstTransformNormalisePlan(tf);

	if (plan == NULL)
		return 0;
	RunNormalisePlan(plan, tf->n_inputs, X, n);
	EstNormalisePlanFree(plan);
	return 1;
}

/*
 * NormaliseNumeric rewrites the slots of every numeric column in n rows
 * with NormaliseValue.  A few rows, a prediction's, go column by column;
 * more go through NormaliseRuns, with the same arithmetic.
 */
EST_CLONES static void
NormaliseNumeric(const EstTransform *tf, float *X, size_t n)
{
	if (n >= NORMALISE_RUN_ROWS && NormaliseRuns(tf, X, n))
		return;
	for (size_t i = 0; i < n; i++)
	{
		float	   *row = X + i * (size_t) tf->n_inputs;

		for (int c = 0; c < tf->n_columns; c++)
		{
			const EstFeatureColumn *col = &tf->columns[c];
			float	   *v;

			if (col->kind != EST_FC_NUMERIC)
				continue;
			v = row + col->offset;
			for (int j = 0; j < col->shape; j++)
				v[j] = NormaliseValue(v[j], NumericFill(col, j),
									  col->shift[j], col->scale[j]);
		}
	}
}

/*
 * CountCategorical adds to *nulls and *values the NULL markers and the
 * values (an id or a provisional id) among the n slots of a categorical
 * column in one row, as encoded before the fit.
 */
static void
CountCategorical(const float *slots, int n, int64_t *nulls, int64_t *values)
{
	for (int j = 0; j < n; j++)
	{
		if (slots[j] == PROVISIONAL_NULL)
			(*nulls)++;
		else if (slots[j] >= 0.0f)
			(*values)++;
	}
}

/*
 * FinishCategorical counts the values and the NULLs of a categorical
 * column in the fit rows (CountCategorical), then maps provisional ids
 * through map (when given) and NULL markers to the column's final NULL id
 * in all rows.
 */
static void
FinishCategorical(EstFeatureColumn *col, int n_inputs, float *X,
				  size_t n_fit, size_t n_rows, const int32_t *map)
{
	float		null_id = NullId(col);
	size_t		i;
	int			j;

	col->null_count = 0;
	col->value_count = 0;
	for (i = 0; i < n_rows; i++)
	{
		float	   *slots = X + i * (size_t) n_inputs + col->offset;

		if (i < n_fit)
			CountCategorical(slots, col->slots, &col->null_count,
							 &col->value_count);
		for (j = 0; j < col->slots; j++)
		{
			if (slots[j] == PROVISIONAL_NULL)
				slots[j] = null_id;
			else if (slots[j] >= 0.0f && map != NULL)
				slots[j] = (float) map[(int32_t) slots[j]];
		}
	}
}

/*
 * FittedAlready tells whether a fitted transform has state that a fit
 * would learn again (numeric statistics, a learned vocabulary): a
 * transform with nothing to learn is fitted as soon as it is made, and
 * fitting it only counts its categorical values.
 */
static int
FittedAlready(const EstTransform *tf)
{
	if (!tf->fitted)
		return 0;
	for (int c = 0; c < tf->n_columns; c++)
		if (tf->columns[c].kind == EST_FC_NUMERIC ||
			(tf->columns[c].kind == EST_FC_VOCABULARY && tf->columns[c].learned))
			return 1;
	return 0;
}

/*
 * EstTransformFit learns the statistics and vocabularies from the first
 * n_fit rows of X and rewrites all n_rows rows into final form (see
 * estcore.h).  Everything that can fail (a slot that is no provisional
 * id, no value and no OOV bucket, memory) happens before anything
 * changes, so a failure leaves tf and X as they were.  A fitted transform
 * can be fitted again only when it learns nothing (it was fitted at once):
 * then the fit only counts and finishes NULLs, which is harmless.
 */
EstStatus
EstTransformFit(EstTransform *tf, float *X, size_t n_fit, size_t n_rows,
				char *errmsg)
{
	VocabPlan  *plans;
	SlotStats  *stats;
	EstStatus	status = EST_OK;
	int			c;

	if (n_fit > n_rows || (n_rows > 0 && X == NULL) || tf->n_columns < 1)
	{
		EstSetError(errmsg, "cannot fit a transform on %zu of %zu rows",
					n_fit, n_rows);
		return EST_EINVAL;
	}
	if (FittedAlready(tf))
	{
		EstSetError(errmsg, "transform is already fitted");
		return EST_EINVAL;
	}
	plans = EstAllocZero((size_t) tf->n_columns, sizeof(VocabPlan));
	if (plans == NULL)
	{
		EstSetError(errmsg, "could not allocate the fit of %d feature columns",
					tf->n_columns);
		return EST_ENOMEM;
	}
	stats = EstAllocZero(NumericSlots(tf) + 1, sizeof(SlotStats));
	if (stats == NULL)
	{
		EstFree(plans);
		EstSetError(errmsg, "could not allocate the statistics of %d feature columns",
					tf->n_columns);
		return EST_ENOMEM;
	}
	for (c = 0; c < tf->n_columns && status == EST_OK; c++)
		if (LearnsVocabulary(tf, &tf->columns[c]))
			status = PlanVocabulary(tf, c, X, n_fit, n_rows, &plans[c],
									errmsg);
	if (status != EST_OK)
	{
		for (c = 0; c < tf->n_columns; c++)
			VocabPlanFree(&plans[c]);
		EstFree(plans);
		EstFree(stats);
		return status;
	}

	FitNumericStats(tf, X, n_fit, stats);
	SetNumericStats(tf, stats);
	EstFree(stats);
	NormaliseNumeric(tf, X, n_rows);
	for (c = 0; c < tf->n_columns; c++)
	{
		EstFeatureColumn *col = &tf->columns[c];

		if (col->kind == EST_FC_NUMERIC)
			continue;
		if (plans[c].active)
			InstallPlan(col, &plans[c]);
		FinishCategorical(col, tf->n_inputs, X, n_fit, n_rows,
						  plans[c].active ? plans[c].map : NULL);
		VocabPlanFree(&plans[c]);
	}
	EstFree(plans);
	PendingFree(tf);
	tf->fitted = 1;
	return EST_OK;
}

/*
 * EstTransformApply normalises the numeric slots of n rows of a fitted
 * transform with the arithmetic of EstTransformFit; the encoders already
 * gave categorical slots their final ids.
 */
void
EstTransformApply(const EstTransform *tf, float *X, size_t n)
{
	if (!tf->fitted)
		return;
	NormaliseNumeric(tf, X, n);
}

/*
 * EstTransformApplyPlanned is EstTransformApply through plan, tf's
 * (EstTransformNormalisePlan), made once for many calls of a few rows, a
 * prediction's: the same floats, without walking the columns.  A NULL
 * plan walks them.
 */
void
EstTransformApplyPlanned(const EstTransform *tf, const EstNormalisePlan *plan,
						 float *X, size_t n)
{
	if (!tf->fitted)
		return;
	if (plan != NULL)
		RunNormalisePlan(plan, tf->n_inputs, X, n);
	else
		NormaliseNumeric(tf, X, n);
}

/*
 * EstTransformFitsInParts tells whether tf can be fitted from parts
 * (EstTransformFitParts): when no column learns a vocabulary, whose
 * values would all have to be in one place.
 */
int
EstTransformFitsInParts(const EstTransform *tf)
{
	for (int c = 0; c < tf->n_columns; c++)
		if (LearnsVocabulary(tf, &tf->columns[c]))
			return 0;
	return tf->n_columns > 0;
}

/* a categorical column's part of a fit: what FinishCategorical counts */
typedef struct CategoryCounts
{
	int64_t		nulls;
	int64_t		values;
} CategoryCounts;

/*
 * A part of a fit is the numeric slots' states, then the counts of every
 * column (those of numeric columns unused).
 */
size_t
EstTransformFitStatsSize(const EstTransform *tf)
{
	return (NumericSlots(tf) + 1) * sizeof(SlotStats) +
		(size_t) tf->n_columns * sizeof(CategoryCounts);
}

static CategoryCounts *
PartCounts(const EstTransform *tf, void *part)
{
	return (CategoryCounts *) ((char *) part +
							   (NumericSlots(tf) + 1) * sizeof(SlotStats));
}

/*
 * EstTransformFitPart computes the statistics of the numeric slots and
 * the counts of the categorical columns over n rows of X (as encoded,
 * before the fit) into stats, EstTransformFitStatsSize(tf) bytes: one part
 * of a fit whose rows are split, in order, among several processes.
 * EstTransformFitPartAdd adds n more rows to a part (zeroed to start): a
 * part added a block of rows at a time is the same, bit for bit.
 */
void
EstTransformFitPart(const EstTransform *tf, const float *X, size_t n,
					void *stats)
{
	memset(stats, 0, EstTransformFitStatsSize(tf));
	EstTransformFitPartAdd(tf, X, n, stats);
}

void
EstTransformFitPartAdd(const EstTransform *tf, const float *X, size_t n,
					   void *stats)
{
	CategoryCounts *counts = PartCounts(tf, stats);

	FitNumericStats(tf, X, n, stats);
	for (int c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *col = &tf->columns[c];

		if (col->kind == EST_FC_NUMERIC)
			continue;
		for (size_t i = 0; i < n; i++)
			CountCategorical(X + i * (size_t) tf->n_inputs + col->offset,
							 col->slots, &counts[c].nulls, &counts[c].values);
	}
}

/*
 * MergeSlotStats adds the state b, of rows that come after a's, to a: the
 * pairwise update of Chan, Golub and LeVeque.
 */
static void
MergeSlotStats(SlotStats *a, const SlotStats *b)
{
	size_t		k = a->k + b->k;

	if (b->k > 0 && a->k == 0)
	{
		a->mean = b->mean;
		a->m2 = b->m2;
		a->lo = b->lo;
		a->hi = b->hi;
	}
	else if (b->k > 0)
	{
		double		delta = b->mean - a->mean;
		double		ka = (double) a->k;
		double		kb = (double) b->k;

		a->mean += delta * (kb / (double) k);
		a->m2 += b->m2 + delta * delta * (ka * kb / (double) k);
		a->lo = b->lo < a->lo ? b->lo : a->lo;
		a->hi = b->hi > a->hi ? b->hi : a->hi;
	}
	a->k = k;
	a->nulls += b->nulls;
}

/*
 * EstTransformFitParts fits tf (EstTransformFitsInParts) from n_parts
 * parts (EstTransformFitPart's, of consecutive rows, in row order; each
 * EstTransformFitStatsSize bytes) and rewrites n_rows rows of X with it,
 * as EstTransformFit does all of its rows.  The means and variances of
 * several parts differ from those of a fit over all the rows at once in
 * the last bits; one part gives the same.
 */
EstStatus
EstTransformFitParts(EstTransform *tf, const void *parts, int n_parts,
					 float *X, size_t n_rows, char *errmsg)
{
	size_t		n_slots = NumericSlots(tf);
	size_t		size = EstTransformFitStatsSize(tf);
	SlotStats  *st;
	CategoryCounts *counts;

	if (!EstTransformFitsInParts(tf) || FittedAlready(tf) || n_parts < 1 ||
		(n_rows > 0 && X == NULL))
	{
		EstSetError(errmsg, "cannot fit a transform from %d parts", n_parts);
		return EST_EINVAL;
	}
	st = EstAlloc(size);
	if (st == NULL)
	{
		EstSetError(errmsg, "could not allocate the statistics of %d feature columns",
					tf->n_columns);
		return EST_ENOMEM;
	}
	memcpy(st, parts, size);
	counts = PartCounts(tf, st);
	for (int p = 1; p < n_parts; p++)
	{
		const void *part = (const char *) parts + (size_t) p * size;
		const SlotStats *pst = part;
		const CategoryCounts *pc = PartCounts(tf, (void *) part);

		for (size_t j = 0; j < n_slots; j++)
			MergeSlotStats(&st[j], &pst[j]);
		for (int c = 0; c < tf->n_columns; c++)
		{
			counts[c].nulls += pc[c].nulls;
			counts[c].values += pc[c].values;
		}
	}
	SetNumericStats(tf, st);
	NormaliseNumeric(tf, X, n_rows);
	for (int c = 0; c < tf->n_columns; c++)
	{
		EstFeatureColumn *col = &tf->columns[c];

		if (col->kind == EST_FC_NUMERIC)
			continue;
		/* NULL markers to the NULL id; the counts are all the parts' */
		FinishCategorical(col, tf->n_inputs, X, 0, n_rows, NULL);
		col->null_count = counts[c].nulls;
		col->value_count = counts[c].values;
	}
	EstFree(st);
	PendingFree(tf);
	tf->fitted = 1;
	return EST_OK;
}

/* ----------------------------------------------------------------
 * Feature state (the labels of regressors)
 * ----------------------------------------------------------------
 */

/*
 * EstFeatureStateInit allocates the state for n_inputs columns, set to
 * the identity transform (shift 0, scale 1).  On failure fs is zeroed.
 */
EstStatus
EstFeatureStateInit(EstFeatureState *fs, int n_inputs, char *errmsg)
{
	int			i;

	memset(fs, 0, sizeof(*fs));
	if (n_inputs < 1)
	{
		EstSetError(errmsg, "feature state needs at least 1 input, not %d",
					n_inputs);
		return EST_EINVAL;
	}
	if (n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "feature state has %d inputs, the limit is %d",
					 n_inputs, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	fs->shift = EstAllocZero((size_t) n_inputs, sizeof(double));
	fs->scale = EstAllocZero((size_t) n_inputs, sizeof(double));
	if (fs->shift == NULL || fs->scale == NULL)
	{
		EstFeatureStateFree(fs);
		EstSetError(errmsg, "could not allocate the feature state of %d inputs",
					 n_inputs);
		return EST_ENOMEM;
	}
	for (i = 0; i < n_inputs; i++)
		fs->scale[i] = 1.0;
	fs->n_inputs = n_inputs;
	return EST_OK;
}

/*
 * EstFeatureStateFree releases the state and zeroes fs.
 */
void
EstFeatureStateFree(EstFeatureState *fs)
{
	EstFree(fs->shift);
	EstFree(fs->scale);
	memset(fs, 0, sizeof(*fs));
}

/*
 * LabelStats is the Welford loop of EstFeatureStateFit over column j of n
 * rows of X (n x cols), continued from *st (zeroed to start): its mean, m2
 * and count.
 */
static void
LabelStats(const float *X, int cols, int j, size_t n, SlotStats *st)
{
	double		mean = st->mean;
	double		m2 = st->m2;

	for (size_t i = 0; i < n; i++)
	{
		double		x = X[i * (size_t) cols + j];
		double		d = x - mean;

		mean += d / (double) (st->k + i + 1);
		m2 += d * (x - mean);
	}
	st->mean = mean;
	st->m2 = m2;
	st->k += n;
}

/*
 * SetLabelState sets column j of fs from its statistics: the mean, and
 * the population standard deviation (1 when it is 0 or not finite).
 */
static void
SetLabelState(EstFeatureState *fs, int j, const SlotStats *st)
{
	double		sd = st->k > 0 ? sqrt(st->m2 / (double) st->k) : 0.0;

	fs->shift[j] = isfinite(st->mean) ? st->mean : 0.0;
	fs->scale[j] = (isfinite(sd) && sd > 0.0) ? sd : 1.0;
}

/*
 * EstFeatureStateFit sets each column's shift to its mean and scale to
 * its population standard deviation.  A column whose deviation is 0 or
 * not finite gets scale 1, and one whose mean is not finite gets shift 0,
 * so the state is always finite and usable.
 */
void
EstFeatureStateFit(EstFeatureState *fs, const float *X, size_t n)
{
	for (int j = 0; j < fs->n_inputs; j++)
	{
		SlotStats	st;

		memset(&st, 0, sizeof(st));
		LabelStats(X, fs->n_inputs, j, n, &st);
		SetLabelState(fs, j, &st);
	}
}

size_t
EstFeatureStateStatsSize(int n_inputs)
{
	return ((size_t) n_inputs + 1) * sizeof(SlotStats);
}

/*
 * EstFeatureStateFitPart computes, into stats (EstFeatureStateStatsSize
 * bytes), the statistics of n rows of X (n x n_inputs): one part of a fit
 * whose rows are split, in order, among several processes.
 * EstFeatureStateFitPartAdd adds n more rows to a part (zeroed to start).
 */
void
EstFeatureStateFitPart(int n_inputs, const float *X, size_t n, void *stats)
{
	memset(stats, 0, EstFeatureStateStatsSize(n_inputs));
	EstFeatureStateFitPartAdd(n_inputs, X, n, stats);
}

void
EstFeatureStateFitPartAdd(int n_inputs, const float *X, size_t n,
						  void *stats)
{
	for (int j = 0; j < n_inputs; j++)
		LabelStats(X, n_inputs, j, n, (SlotStats *) stats + j);
}

/*
 * EstFeatureStateFitParts sets fs from n_parts parts (in row order, each
 * EstFeatureStateStatsSize bytes), merged as EstTransformFitParts merges
 * its own: one part gives the floats of EstFeatureStateFit.
 */
void
EstFeatureStateFitParts(EstFeatureState *fs, const void *parts, int n_parts)
{
	size_t		size = EstFeatureStateStatsSize(fs->n_inputs);

	for (int j = 0; j < fs->n_inputs; j++)
	{
		SlotStats	st = ((const SlotStats *) parts)[j];

		for (int p = 1; p < n_parts; p++)
			MergeSlotStats(&st, &((const SlotStats *)
								  ((const char *) parts + (size_t) p * size))[j]);
		SetLabelState(fs, j, &st);
	}
}

/*
 * EstFeatureStateApply transforms n rows of X in place, computing in
 * double and rounding once to float.
 */
void
EstFeatureStateApply(const EstFeatureState *fs, float *X, size_t n)
{
	int			cols = fs->n_inputs;
	size_t		i;
	int			j;

	for (i = 0; i < n; i++)
	{
		float	   *row = X + i * (size_t) cols;

		for (j = 0; j < cols; j++)
			row[j] = (float) (((double) row[j] - fs->shift[j]) / fs->scale[j]);
	}
}
