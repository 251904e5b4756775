/*-------------------------------------------------------------------------
 *
 * estimator.h
 *	  Declarations shared by the PostgreSQL side of estimator: settings,
 *	  model definitions, source reading and the catalog.
 *
 * The shell (the files of src/) turns SQL arguments into an EstModelDef, reads rows
 * through SPI into float32 matrices, keeps models in the estimator.*
 * tables and hands the numbers to the pure core (src/core/estcore.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ESTIMATOR_H
#define ESTIMATOR_H

#include "postgres.h"

#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"

#include "estcore.h"

#define EST_MAX_NAME_LEN		63	/* bytes of a model name */
#define EST_MAX_FEATURES		4096	/* source columns of one model */

/* settings (estimator.c) */
extern int	estimator_max_memory;	/* kB */
extern int	estimator_log_step_count_steps;

/* ----------------------------------------------------------------
 * Model definitions (spec.c)
 * ----------------------------------------------------------------
 */

/* How one source column feeds the network. */
typedef enum EstColumnKind
{
	EST_COL_UNSUPPORTED = 0,
	EST_COL_SCALAR,				/* smallint .. numeric: one input */
	EST_COL_ARRAY				/* real[] or float8[]: width inputs */
} EstColumnKind;

typedef struct EstColumn
{
	char	   *name;
	Oid			type;			/* as found in the source */
	EstColumnKind kind;
	int			width;			/* inputs it feeds; -1 until known */
} EstColumn;

/* A model as stored in estimator.model_catalog. */
typedef struct EstModelDef
{
	char	   *name;
	Oid			owner;
	char	   *model_type;
	char	   *label;
	int			n_features;
	EstColumn  *features;
	int			n_inputs;
	int			n_classes;
	int			n_hidden;
	int			hidden[EST_MAX_LAYERS];
	EstActivation activation;
	EstOptimizerKind optimizer;
	double		learning_rate;
	int			batch_size;
	Jsonb	   *params;
	int64		global_step;
} EstModelDef;

/* One call of est_train, after validation; NULL arguments are unset. */
typedef struct EstTrainRequest
{
	char	   *model;
	char	   *source;
	char	   *label;
	int			n_features;		/* -1: every column except the label */
	char	  **features;
	char	   *model_type;		/* NULL: not given */
	int			n_hidden;		/* -1: not given */
	int			hidden[EST_MAX_LAYERS];
	int64		steps;			/* 0: not given */
	int32		epochs;			/* 0: not given */
	int32		batch_size;		/* 0: not given */
	double		learning_rate;	/* 0: not given */
	EstOptimizerKind optimizer; /* 0: not given */
	Jsonb	   *params;			/* NULL: not given */

	/* from params */
	bool		has_seed;
	uint64		seed;
	int32		log_step_count_steps;	/* 0: not given */
	int32		keep_checkpoint_max;	/* 0: not given */
	int32		n_classes;		/* 0: not given */
	EstActivation activation;	/* 0: not given */
} EstTrainRequest;

extern char *EstModelNameArg(FunctionCallInfo fcinfo, int argno);
extern void EstParseTrainRequest(FunctionCallInfo fcinfo,
								 EstTrainRequest *req);
extern EstModelDef *EstNewModelDef(const EstTrainRequest *req);
extern void EstCheckCompatible(const EstModelDef *def,
							   const EstTrainRequest *req);
extern const char *EstOptimizerName(EstOptimizerKind kind);
extern const char *EstActivationName(EstActivation act);
extern EstOptimizerKind EstOptimizerFromName(const char *name);
extern EstActivation EstActivationFromName(const char *name);
extern int32 EstParamsInt(Jsonb *params, const char *key, int32 dflt);

/* ----------------------------------------------------------------
 * Reading sources (input.c)
 * ----------------------------------------------------------------
 */
typedef struct EstReader EstReader;

extern EstColumnKind EstClassifyType(Oid type);
extern EstReader *EstReaderOpen(const char *source, const char *label,
								EstColumn *features, int n_features,
								bool infer_features);
extern void EstReaderColumns(EstReader *reader, EstColumn **features,
							 int *n_features);
extern int	EstReaderInputs(EstReader *reader);
extern int	EstReaderNext(EstReader *reader, float *X, float *y, int max_rows);
extern void EstReaderClose(EstReader *reader);
extern void EstConvertValue(Datum value, bool isnull, const EstColumn *col,
							float *out);
extern void EstCheckLabel(int64 label, int n_classes, const char *column);
extern void EstCheckMemory(Size needed, const char *what);

/* ----------------------------------------------------------------
 * The catalog (catalog.c)
 * ----------------------------------------------------------------
 */
/* identity of the rows that hold a model now (see cache.c) */
typedef struct EstModelVersion
{
	TransactionId model_xmin;
	ItemPointerData model_tid;
	bool		has_checkpoint;
	TransactionId ckpt_xmin;
	ItemPointerData ckpt_tid;
	int64		global_step;
} EstModelVersion;

extern bool EstCatalogModelVersion(const char *name, EstModelVersion *version);
extern EstModelDef *EstCatalogGetModel(const char *name, bool for_update,
									   bool missing_ok);
extern bool EstCatalogInsertModel(const EstModelDef *def);
extern void EstCatalogUpdateModel(const EstModelDef *def);
extern void EstCatalogDropModel(const char *name);
extern void EstCatalogCheckOwner(const EstModelDef *def, const char *action);
extern bytea *EstCatalogLatestCheckpoint(const char *name, bool latest,
										 int64 *global_step);
extern void EstCatalogStoreCheckpoint(const char *name, int64 global_step,
									  double loss, bytea *data, int keep);
extern void EstCatalogLog(const char *name, int64 global_step, double loss,
						  double seconds);

/* ----------------------------------------------------------------
 * Checkpoints and the core (estimator.c)
 * ----------------------------------------------------------------
 */
extern void EstLoadCheckpoint(const EstModelDef *def, bool latest,
							  EstCheckpoint *ckpt);
extern void EstReportCoreError(EstStatus status, const char *coremsg,
							   const char *what);

/* ----------------------------------------------------------------
 * Decoded models kept across queries (cache.c)
 * ----------------------------------------------------------------
 */
typedef struct EstCachedModel
{
	char		name[EST_MAX_NAME_LEN + 1];
	EstModelVersion version;
	MemoryContext context;		/* holds def and the checkpoint's arrays */
	EstModelDef *def;
	EstCheckpoint ckpt;
	int			pins;			/* call sites using it now */
	bool		cached;			/* in a slot of the cache */
	uint64		last_used;
} EstCachedModel;

extern EstCachedModel *EstCacheAcquire(const char *name);
extern void EstCacheRelease(EstCachedModel *model);

#endif							/* ESTIMATOR_H */
