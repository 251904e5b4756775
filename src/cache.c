/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Decoded models kept across queries, for prediction.
 *
 * Prediction runs once per row and often in short queries, so decoding a
 * checkpoint for each query would cost more than scoring.  Each backend
 * keeps up to EST_CACHE_SIZE decoded models.  An entry is valid as long as
 * the rows that hold the model's definition and serving checkpoint are the
 * same (same xmin and ctid, in the same file of the same table): training,
 * deploying, dropping, restoring or corrupting a model all write new rows,
 * so the next lookup sees the change, and so does dropping and creating
 * the extension again in one transaction (new tables, whose rows have the
 * xmin and ctids that the old ones had).  That
 * lookup is one indexed catalog query per call site and query, under the
 * query's snapshot, so MVCC decides which checkpoint a query sees; the
 * decoding happens only when the rows changed.
 *
 * A call site pins the entry it uses until its query ends (a reset
 * callback on its memory context), so an entry is never freed while in
 * use; only unpinned entries are evicted, least recently used first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/memutils.h"

#include "estimator.h"

#define EST_CACHE_SIZE	8

static EstCachedModel *cache_entries[EST_CACHE_SIZE];
static uint64 cache_clock = 0;

static bool
SameVersion(const EstModelVersion *a, const EstModelVersion *b)
{
	return a->model_file == b->model_file &&
		a->model_xmin == b->model_xmin &&
		ItemPointerEquals((ItemPointer) &a->model_tid,
						  (ItemPointer) &b->model_tid) &&
		a->has_checkpoint == b->has_checkpoint &&
		a->ckpt_file == b->ckpt_file &&
		a->ckpt_xmin == b->ckpt_xmin &&
		ItemPointerEquals((ItemPointer) &a->ckpt_tid,
						  (ItemPointer) &b->ckpt_tid) &&
		a->global_step == b->global_step;
}

static void
FreeEntry(int slot)
{
	EstCachedModel *entry = cache_entries[slot];

	Assert(entry->pins == 0);
	MemoryContextDelete(entry->context);	/* entry lives in it too */
	cache_entries[slot] = NULL;
}

/*
 * LoadEntry decodes a model into a new context.  The context hangs below
 * the current one until the load succeeds, so an error frees it with the
 * query; then it moves below CacheMemoryContext.
 */
static EstCachedModel *
LoadEntry(const char *name, const EstModelVersion *version)
{
	MemoryContext context;
	MemoryContext oldcontext;
	EstCachedModel *entry;

	context = AllocSetContextCreate(CurrentMemoryContext,
									"estimator model",
									ALLOCSET_DEFAULT_SIZES);
	oldcontext = MemoryContextSwitchTo(context);
	entry = palloc0(sizeof(EstCachedModel));
	strlcpy(entry->name, name, sizeof(entry->name));
	entry->version = *version;
	entry->context = context;
	entry->def = EstCatalogGetModel(name, false, false);
	EstLoadCheckpoint(entry->def, false, &entry->ckpt);
	/* in the entry's context too: NULL, if it could not allocate, walks */
	entry->normalise = EstTransformNormalisePlan(&entry->ckpt.transform);
	MemoryContextSwitchTo(oldcontext);

	/* the rows may have changed between the two lookups: check again */
	if (entry->ckpt.global_step != version->global_step)
		elog(ERROR, "checkpoint of model \"%s\" changed while it was loaded",
			 name);

	MemoryContextSetParent(context, CacheMemoryContext);
	elog(DEBUG1, "estimator: decoded checkpoint of model \"%s\" at step " INT64_FORMAT,
		 name, entry->ckpt.global_step);
	return entry;
}

/*
 * EstCacheAcquire returns the decoded model of that name as the current
 * snapshot sees it, pinned: the caller must call EstCacheRelease.
 */
EstCachedModel *
EstCacheAcquire(const char *name)
{
	EstModelVersion version;
	EstCachedModel *entry;
	int			free_slot = -1;
	int			victim = -1;

	SPI_connect();
	if (!EstCatalogModelVersion(name, &version))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("Train it with est_train first.")));
	if (!version.has_checkpoint)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no checkpoint", name),
				 errhint("Train it with est_train first.")));

	for (int i = 0; i < EST_CACHE_SIZE; i++)
	{
		entry = cache_entries[i];
		if (entry == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(entry->name, name) == 0 && entry->pins == 0 &&
			!SameVersion(&entry->version, &version))
		{
			/* an older version nobody uses any more */
			FreeEntry(i);
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(entry->name, name) == 0 &&
			SameVersion(&entry->version, &version))
		{
			SPI_finish();
			entry->pins++;
			entry->last_used = ++cache_clock;
			return entry;
		}
		if (entry->pins == 0 &&
			(victim < 0 || entry->last_used < cache_entries[victim]->last_used))
			victim = i;
	}

	entry = LoadEntry(name, &version);
	SPI_finish();

	if (free_slot < 0 && victim >= 0)
	{
		FreeEntry(victim);
		free_slot = victim;
	}
	/* with every slot pinned, the entry serves its caller uncached */
	entry->cached = free_slot >= 0;
	if (entry->cached)
		cache_entries[free_slot] = entry;
	entry->pins = 1;
	entry->last_used = ++cache_clock;
	return entry;
}

/*
 * EstCacheRelease unpins a model; an entry that found no slot is freed
 * here.
 */
void
EstCacheRelease(EstCachedModel *model)
{
	Assert(model->pins > 0);
	model->pins--;
	if (model->pins == 0 && !model->cached)
		MemoryContextDelete(model->context);
}

/*
 * EstCacheAcquireFor is EstCacheAcquire for a use that needs a privilege
 * on the model (est_grant): without it, the model is released and the
 * error says what was denied.
 */
EstCachedModel *
EstCacheAcquireFor(const char *name, EstPrivilege priv, const char *action)
{
	EstCachedModel *model = EstCacheAcquire(name);

	PG_TRY();
	{
		SPI_connect();
		EstCatalogCheckPrivilege(model->def, priv, action);
		SPI_finish();
	}
	PG_CATCH();
	{
		EstCacheRelease(model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return model;
}
