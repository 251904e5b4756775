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

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"

#include "estcore.h"

#define EST_MAX_NAME_LEN		63	/* bytes of a model name */
#define EST_MAX_FEATURES		4096	/* source columns of one model */

/* settings (estimator.c) */
extern int	estimator_max_memory;	/* kB */
extern int	estimator_parallel_workers;

/* parallel workers one training may use besides its backend */
#define EST_MAX_PARALLEL_WORKERS	64
extern int	estimator_log_step_count_steps;

/* ----------------------------------------------------------------
 * Model definitions (spec.c)
 * ----------------------------------------------------------------
 */

/* How one source column feeds the network. */
typedef enum EstColumnKind
{
	EST_COL_UNSUPPORTED = 0,
	EST_COL_SCALAR,				/* smallint .. numeric */
	EST_COL_ARRAY,				/* real[] or float8[]: width values */
	EST_COL_BOOL,				/* boolean */
	EST_COL_TEXT,				/* text, varchar, char, name, enums */
	EST_COL_TEXT_ARRAY			/* arrays of those */
} EstColumnKind;

typedef struct EstColumn
{
	char	   *name;
	Oid			type;			/* as found in the source */
	Oid			base_type;		/* type, or the base type of a domain;
								 * InvalidOid until known */
	EstColumnKind kind;
	int			width;			/* values of an array of numbers, 1 for
								 * others; -1 until known */
} EstColumn;

/* The model types of TensorFlow's premade estimators. */
typedef enum EstModelType
{
	EST_DNN_CLASSIFIER = 1,
	EST_DNN_REGRESSOR,
	EST_LINEAR_CLASSIFIER,
	EST_LINEAR_REGRESSOR,
	EST_COMBINED_CLASSIFIER,	/* dnn_linear_combined_classifier */
	EST_COMBINED_REGRESSOR		/* dnn_linear_combined_regressor */
} EstModelType;

#define EST_IS_REGRESSOR(t) \
	((t) == EST_DNN_REGRESSOR || (t) == EST_LINEAR_REGRESSOR || \
	 (t) == EST_COMBINED_REGRESSOR)
#define EST_IS_LINEAR(t) \
	((t) == EST_LINEAR_CLASSIFIER || (t) == EST_LINEAR_REGRESSOR)
#define EST_IS_COMBINED(t) \
	((t) == EST_COMBINED_CLASSIFIER || (t) == EST_COMBINED_REGRESSOR)

/* A model as stored in estimator.model_catalog. */
typedef struct EstModelDef
{
	char	   *name;
	Oid			owner;
	EstModelType type;
	char	   *label;
	int			n_features;
	EstColumn  *features;		/* the source columns read */
	int			n_inputs;		/* floats of a compact row */
	int			input_width;	/* floats of the network's input vector */
	int			n_classes;		/* classifiers; 0 for regressors */
	int			n_label_vocabulary; /* 0: integer class ids */
	char	  **label_vocabulary;	/* class names, by class id */
	char	   *weight_column;	/* from params; NULL: none */
	int			label_dimension;	/* regressors; 0 for classifiers */
	int			n_hidden;
	int			hidden[EST_MAX_LAYERS];
	EstActivation activation;
	EstOptimizerKind optimizer;
	double		learning_rate;
	int			batch_size;
	Jsonb	   *params;			/* of the creating call */
	int64		global_step;
} EstModelDef;

/* The optimizer hyperparameters that params set, as bits of a mask. */
#define EST_HYPER_BETA1					(1 << 0)
#define EST_HYPER_BETA2					(1 << 1)
#define EST_HYPER_EPSILON				(1 << 2)
#define EST_HYPER_INITIAL_ACCUMULATOR	(1 << 3)
#define EST_HYPER_MOMENTUM				(1 << 4)
#define EST_HYPER_NESTEROV				(1 << 5)
#define EST_HYPER_RHO					(1 << 6)
#define EST_HYPER_CENTERED				(1 << 7)
#define EST_HYPER_LR_POWER				(1 << 8)
#define EST_HYPER_L1					(1 << 9)
#define EST_HYPER_L2					(1 << 10)
#define EST_HYPER_L2_SHRINKAGE			(1 << 11)
#define EST_HYPER_BETA					(1 << 12)	/* the last */

/* What params says (params.c); zero, -1 or NULL where it is silent. */
typedef struct EstOptions
{
	/* how a call trains */
	bool		has_seed;
	uint64		seed;
	int32		log_step_count_steps;
	int32		keep_checkpoint_max;
	double		clip_norm;
	double		l1_regularization;	/* -1: not given */
	double		l2_regularization;	/* -1: not given */
	bool		has_schedule;
	EstSchedule schedule;
	double		eval_fraction;
	char	   *eval_source;
	int64		eval_every_steps;
	bool		has_early_stopping;
	char	   *es_metric;
	int32		es_patience;
	double		es_min_delta;
	double		linear_learning_rate;
	int64		save_checkpoints_steps; /* 0: at the end of a call only */
	int32		parallel_workers;	/* -1: not given (the GUC decides) */
	bool		has_promote_if;
	char	   *promote_metric;
	char	   *promote_source;	/* "holdout", a relation or a query */
	double		promote_min_delta;

	/* what a model is */
	int32		n_classes;
	int32		label_dimension;
	EstActivation activation;
	double		dropout;		/* -1: not given */
	int			batch_norm;		/* -1: not given */
	EstReduction reduction;
	int			n_linear_columns;	/* -1: not given */
	char	  **linear_columns;
	int			n_dnn_columns;	/* -1: not given */
	char	  **dnn_columns;
	EstOptimizerKind linear_optimizer;
	int			n_feature_columns;	/* -1: not given (inferred) */
	EstFeatureColumn *feature_columns;	/* declarations */
	int			n_label_vocabulary; /* -1: not given */
	char	  **label_vocabulary;
	char	   *weight_column;	/* NULL: every row weighs 1 */
	uint32		opt_given;		/* EST_HYPER_* set in opt */
	EstOptimizer opt;
	uint32		linear_opt_given;
	EstOptimizer linear_opt;
} EstOptions;

/* One call of est_train, after validation; NULL arguments are unset. */
typedef struct EstTrainRequest
{
	char	   *model;
	char	   *source;
	char	   *label;
	int			n_features;		/* -1: every column except the label */
	char	  **features;
	EstModelType model_type;	/* 0: not given */
	int			n_hidden;		/* -1: not given */
	int			hidden[EST_MAX_LAYERS];
	int64		steps;			/* 0: not given */
	int32		epochs;			/* 0: not given */
	int32		batch_size;		/* 0: not given */
	double		learning_rate;	/* 0: not given */
	EstOptimizerKind optimizer; /* 0: not given */
	Jsonb	   *params;			/* NULL: not given */
	EstOptions	opts;			/* what params says */
	char	   *warm_start_from;	/* NULL: not given */
	bool		reset;
	bool		nowait;
} EstTrainRequest;

extern char *EstModelNameArg(FunctionCallInfo fcinfo, int argno);
extern void EstParseTrainRequest(FunctionCallInfo fcinfo,
								 EstTrainRequest *req);
extern EstModelDef *EstNewModelDef(const EstTrainRequest *req);
extern void EstCheckCompatible(const EstModelDef *def,
							   const EstTrainRequest *req);
extern void EstCheckCompatibleNetwork(const EstModelDef *def,
									  const EstOptions *opts,
									  const EstCheckpoint *ckpt);
extern double EstDefaultLearningRate(EstOptimizerKind kind, bool linear,
									 int n_columns);
extern void EstCheckHyperparameters(EstOptimizerKind kind, uint32 given,
									const char *prefix);
extern void EstCheckOptionsForType(EstModelType type,
								   const EstTrainRequest *req);
extern const char *EstOptimizerName(EstOptimizerKind kind);
extern const char *EstActivationName(EstActivation act);
extern const char *EstModelTypeName(EstModelType type);
extern EstOptimizerKind EstOptimizerFromName(const char *name);
extern EstActivation EstActivationFromName(const char *name);
extern EstModelType EstModelTypeFromName(const char *name);
extern EstReduction EstReductionFromName(const char *name);
extern const char *EstFeatureKindName(EstFeatureKind kind);
extern EstFeatureKind EstFeatureKindFromName(const char *name);
extern const char *EstNormalizerName(EstNormalizer norm);
extern EstNormalizer EstNormalizerFromName(const char *name);
extern const char *EstCombinerName(EstCombiner comb);
extern EstCombiner EstCombinerFromName(const char *name);
extern const char *EstRepresentationName(EstInputKind kind);
extern EstHead EstModelHead(const EstModelDef *def);
extern int	EstModelOutputs(const EstModelDef *def);

/* params (params.c) */
extern void EstParseParams(Jsonb *params, EstOptions *opts);
extern void EstParseCallParams(Jsonb *params, EstOptions *opts);
extern void EstMergeOptions(EstOptions *call, const EstOptions *stored);
extern bool EstParamsSameValue(Jsonb *given, Jsonb *stored, const char *key);
extern void EstApplyHyperparameters(EstOptimizer *opt,
									const EstOptimizer *given, uint32 mask);
extern const char *EstHyperparametersDiffer(const EstOptimizer *opt,
											const EstOptimizer *given,
											uint32 mask);
extern const char *EstHyperparameterName(uint32 bit);

/* ----------------------------------------------------------------
 * Reading sources (input.c)
 * ----------------------------------------------------------------
 */
typedef struct EstReader EstReader;

typedef enum EstLabelKind
{
	EST_LABEL_CLASS = 1,		/* integer class ids */
	EST_LABEL_VALUE,			/* numbers or arrays of numbers */
	EST_LABEL_VOCABULARY		/* class names (label_vocabulary) */
} EstLabelKind;

/* What a reader reads besides the features; zeros: nothing. */
typedef struct EstReadSpec
{
	const char *label;			/* NULL: no label */
	EstLabelKind label_kind;
	int			label_width;	/* values: -1 measured on the first row */
	int			n_vocabulary;	/* vocabulary: the classes known so far */
	char	  **vocabulary;
	bool		learn_vocabulary;	/* new classes get the next ids */
	const char *weight;			/* NULL: no weight column */
	const char *key;			/* NULL: no key column */
	EstTransform *transform;	/* NULL: built by the caller after
								 * EstReaderOpenSpec (new models) */
	bool		missing_as_null;	/* with transform: a feature column the
									 * source lacks reads as NULL when
									 * EstSourceTakesNull says it may */
	BlockNumber block_lo;		/* a relation's rows in blocks [lo, hi) */
	BlockNumber block_hi;		/* 0: no bound */
} EstReadSpec;

extern EstReader *EstReaderOpen(const char *source, const EstReadSpec *spec,
								EstColumn *features, int n_features,
								bool infer_features);
extern void EstReaderSetTransform(EstReader *reader, EstTransform *tf);
extern int	EstReaderLabelWidth(EstReader *reader);
extern EstReader *EstReaderOpenLabelled(const char *source,
										const EstModelDef *def,
										EstTransform *tf);
extern EstReader *EstReaderOpenKeyed(const char *source, const char *key,
									 const EstModelDef *def,
									 EstTransform *tf);
extern char **EstReaderKeys(EstReader *reader);
extern double EstReaderEstimatedRows(EstReader *reader);
extern double EstRoomForEstimate(double rows);
extern void EstReaderColumns(EstReader *reader, EstColumn **features,
							 int *n_features);
extern int	EstReaderInputs(EstReader *reader);
extern int	EstReaderNext(EstReader *reader, float *X, float *y, float *w,
						  int max_rows);
extern char **EstReaderVocabulary(EstReader *reader, int *n);
extern void EstReaderSortVocabulary(EstReader *reader, float *y, int64 n_rows);
extern void EstReaderClose(EstReader *reader);
extern BlockNumber EstSourceBlocks(const char *source);
struct ParallelTableScanDescData;
extern BlockNumber EstReaderSharableBlocks(EstReader *reader,
										   int *rel_workers);
extern Size EstReaderSharedScanSize(EstReader *reader);
extern Oid	EstReaderRelation(EstReader *reader);
extern char *EstReaderRelationName(EstReader *reader);
extern void EstReaderCheckRelation(EstReader *reader, Oid relid);
extern void EstReaderShareScan(EstReader *reader,
							   struct ParallelTableScanDescData *pscan,
							   bool initialize);
extern bool EstReaderLearns(EstReader *reader);
extern int	EstReaderLabelColumnWidth(EstReader *reader);
extern EstTransform *EstReaderTransform(EstReader *reader);
extern void EstConvertValue(Datum value, bool isnull, const EstColumn *col,
							float *out);
extern void EstConvertNumbers(Datum value, bool isnull, const EstColumn *col,
							  float *out, bool nulls_as_nan);

/* feature columns (columns.c) */
typedef struct EstEncoder EstEncoder;

extern EstColumnKind EstClassifyType(Oid type);
extern bool EstMissingDroppedColumn(const EstColumn *src);
extern bool EstSourceTakesNull(const EstTransform *tf, const char *column);
extern bool EstIsIntegerType(Oid base);
extern void EstDeclaredSources(const EstOptions *opts, EstColumn **features,
							   int *n_features);
extern void EstBuildTransform(EstColumn *sources, int n_sources,
							  const EstOptions *opts, EstTransform *tf);
extern void EstLegacyTransform(const EstModelDef *def, EstTransform *tf);
extern void EstCheckTransformSources(EstTransform *tf,
									 const EstColumn *sources, int n_sources);
extern void EstReportTransformError(EstStatus status, const char *coremsg);
extern EstEncoder *EstEncoderCreate(EstTransform *tf,
									const EstColumn *sources, int n_sources,
									const int *atts);
extern void EstEncodeRow(EstEncoder *enc, const Datum *values,
						 const bool *nulls, float *x);
extern bool EstEncoderScalarColumns(const EstEncoder *enc, int *n,
									int **atts, Oid **types, int **slots);

/*
 * EstScalarOf converts a value of a plain numeric type to float as
 * EstConvertNumbers does, through double; false for a value that
 * EstConvertNumbers refuses (NaN, infinite, beyond float), which the
 * caller passes to it for the error.
 */
static inline bool
EstScalarOf(Oid type, Datum value, float *slot)
{
	double		d;

	switch (type)
	{
		case INT2OID:
			d = DatumGetInt16(value);
			break;
		case INT4OID:
			d = DatumGetInt32(value);
			break;
		case INT8OID:
			d = (double) DatumGetInt64(value);
			break;
		case FLOAT4OID:
			d = DatumGetFloat4(value);
			break;
		default:
			d = DatumGetFloat8(value);
			break;
	}
	if (isnan(d) || isinf(d) || fabs(d) > FLT_MAX)
		return false;
	*slot = (float) d;
	return true;
}
/*
 * How a row without NULLs whose feature columns are all plain numbers
 * encodes straight from its data (EstScalarRowInit).
 */
typedef struct EstScalarRow
{
	int			n;				/* feature columns */
	int		   *off;			/* each one's offset in the row's data */
	Oid		   *type;			/* its base type */
	int16	   *len;
	int		   *slot;			/* its slot */
	int		   *run;			/* reals from this one on at consecutive
								 * offsets and slots (0: not a real) */
} EstScalarRow;

extern int *EstFixedOffsets(TupleDesc desc, const int *map, int natts,
							int map_atts);
extern bool EstScalarRowInit(EstScalarRow *sr, const EstEncoder *encoder,
							 const int *off);
extern bool EstScalarRowEncode(const EstScalarRow *sr, const char *tp,
							   float *x);
extern void EstCheckLabel(int64 label, int n_classes, const char *column);
extern void EstCheckMemory(Size needed, const char *what);
extern void EstMapPages(const void *addr, Size len, bool write);

/* ----------------------------------------------------------------
 * Data in memory and its metrics (train.c, evaluate.c)
 * ----------------------------------------------------------------
 */
typedef struct EstData
{
	int64		n_rows;
	int			n_inputs;
	int			label_width;	/* label floats of a row */
	float	   *X;				/* n_rows x n_inputs */
	float	   *y;				/* n_rows x label_width */
	float	   *w;				/* n_rows weights, or NULL for all 1 */
} EstData;

/*
 * The pages of a growing EstData's arrays mapped so far (EstMapRowsAhead);
 * zeroed to start.
 */
typedef struct EstRowsMap
{
	const void *base[3];		/* X, y and w when last mapped */
	Size		mapped[3];		/* their bytes mapped */
} EstRowsMap;

extern void EstMapRowsAhead(EstRowsMap *map, const EstData *data, int64 upto,
							int64 capacity);

#define EST_MAX_METRICS 20

/* Metrics under TensorFlow's keys, in the order est_evaluate shows them. */
typedef struct EstMetricSet
{
	int			n;
	const char *keys[EST_MAX_METRICS];
	double		values[EST_MAX_METRICS];
} EstMetricSet;

extern bool EstMetricKnown(const EstModelDef *def, const char *key);
extern void EstScoreData(const EstModelDef *def, EstCheckpoint *ckpt,
						 EstWorkspace *ws, const EstData *data,
						 EstMetricSet *set);
extern void EstReportZeroWeight(const EstModelDef *def, const char *source,
								const char *what) pg_attribute_noreturn();
extern double EstMetricSetValue(const EstMetricSet *set, const char *key);
extern Jsonb *EstMetricSetJsonb(const EstMetricSet *set);

/* ----------------------------------------------------------------
 * The catalog (catalog.c)
 * ----------------------------------------------------------------
 */
/*
 * identity of the rows that hold a model now (see cache.c): the file of
 * each table too, since a table created anew in the same transaction (DROP
 * and CREATE EXTENSION, TRUNCATE) numbers its rows from the start again
 */
typedef struct EstModelVersion
{
	Oid			model_file;
	TransactionId model_xmin;
	ItemPointerData model_tid;
	bool		has_checkpoint;
	Oid			ckpt_file;
	TransactionId ckpt_xmin;
	ItemPointerData ckpt_tid;
	int64		global_step;
} EstModelVersion;

extern bool EstCatalogModelVersion(const char *name, EstModelVersion *version);
extern Datum EstCatalogCallForCaller(const char *function,
									 FunctionCallInfo fcinfo,
									 const Oid *argtypes, int nargs,
									 bool *isnull);
extern EstModelDef *EstCatalogGetModel(const char *name, bool for_update,
									   bool missing_ok);
extern bool EstCatalogInsertModel(const EstModelDef *def, bool nowait);
extern void EstCatalogUpdateModel(const EstModelDef *def);
extern void EstCatalogDropModel(const char *name);
extern void EstCatalogForgetEvaluations(const char *name);

/* What a role may do with a model (est_grant). */
typedef enum EstPrivilege
{
	EST_PRIV_PREDICT = 1,		/* predict, evaluate, inspect, export */
	EST_PRIV_TRAIN = 2,			/* that, and train and deploy */
	EST_PRIV_OWN = 3			/* that, and drop, grant and revoke */
} EstPrivilege;

extern bool EstCatalogHasPrivilege(const EstModelDef *def, EstPrivilege priv);
extern void EstCatalogCheckPrivilege(const EstModelDef *def,
									 EstPrivilege priv, const char *action);
extern bytea *EstCatalogLatestCheckpoint(const char *name, bool latest,
										 int64 *global_step);
extern bytea *EstCatalogServingCheckpoint(const char *name,
										  int64 *global_step, double *loss);
extern void EstCatalogInsertCheckpoint(const char *name, int64 global_step,
									   double loss, bytea *data,
									   const char *source, int64 rows_read,
									   const char *fingerprint);
extern void EstCatalogStoreCheckpoint(const char *name, int64 global_step,
									  double loss, bytea *data, int keep);
/* a row of estimator.training_log */
typedef struct EstLogRow
{
	int64		step;
	double		loss;
	double		seconds;
	TimestampTz logged_at;
	Jsonb	   *metrics;		/* NULL when the step was not evaluated */
} EstLogRow;

extern void EstCatalogLog(const char *name, int64 global_step, double loss,
						  double seconds, Jsonb *eval_metrics);
extern void EstCatalogLogRows(const char *name, const EstLogRow *rows, int n);
extern void EstCatalogRecordEvaluation(const char *name, int64 global_step,
									   const char *source, Jsonb *metrics);

/* ----------------------------------------------------------------
 * Checkpoints and the core (estimator.c)
 * ----------------------------------------------------------------
 */
extern void EstLoadCheckpoint(const EstModelDef *def, bool latest,
							  EstCheckpoint *ckpt);
extern void EstDecodeCheckpoint(const EstModelDef *def, const uint8_t *buf,
								size_t len, int64 step, const char *what,
								EstCheckpoint *ckpt);
extern void EstReportCoreError(EstStatus status, const char *coremsg,
							   const char *what);
extern void EstCheckFinitePrediction(const EstModelDef *def,
									 const double *values, int n);

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
	EstNormalisePlan *normalise;	/* of ckpt.transform; NULL: walk it */
	int			pins;			/* call sites using it now */
	bool		cached;			/* in a slot of the cache */
	uint64		last_used;
} EstCachedModel;

extern EstCachedModel *EstCacheAcquire(const char *name);
extern void EstCacheRelease(EstCachedModel *model);

/* ----------------------------------------------------------------
 * History and deployment (deploy.c)
 * ----------------------------------------------------------------
 */

/* which checkpoint EstCatalogGetCheckpoint returns, besides a step */
#define EST_STEP_NEWEST		INT64CONST(-1)	/* the newest: training */
#define EST_STEP_SERVING	INT64CONST(-2)	/* serving_step, or the newest */

/* What a checkpoint was trained on (estimator.checkpoints). */
typedef struct EstLineage
{
	const char *source;			/* the source text of the call */
	int64		rows_read;
	uint64		fingerprint;	/* order-independent hash of the rows */
	Jsonb	   *metrics;		/* eval metrics at that step, or NULL */
} EstLineage;

extern bytea *EstCatalogGetCheckpoint(const char *name, int64 step,
									  bool latest, int64 *global_step);
extern void EstCatalogStoreCheckpointLineage(const char *name,
											 int64 global_step, double loss,
											 bytea *data, int keep,
											 const EstLineage *lineage);
extern EstModelDef *EstCatalogGetModelForUpdate(const char *name,
												bool nowait,
												bool missing_ok);
extern int64 EstCatalogRelockModel(const char *name, bool nowait);
extern int64 EstCatalogServingStep(const char *name, bool latest,
								   bool *pinned);
extern bool EstCatalogHasCheckpoint(const char *name, int64 step);
extern void EstCatalogSetServing(const char *name, int64 step);
extern void EstCatalogRecordDeployment(const char *name, int64 global_step,
									   int64 previous_step,
									   const char *action, Jsonb *detail);
extern int64 EstCatalogRollbackTarget(const char *name);
extern int64 EstCatalogDeleteCheckpointsAfter(const char *name, int64 step);
extern void EstCatalogResetModel(const char *name);
extern void EstCatalogRedefineModel(const EstModelDef *def);
extern void EstCatalogListCheckpoints(const char *name);
extern void EstLoadCheckpointAt(const EstModelDef *def, int64 step,
								bool latest, EstCheckpoint *ckpt);
extern uint64 EstDataFingerprint(const EstData *data);

/*
 * A training step (train.c), as the backend and its parallel workers run
 * it.  EstStepPlan is what a step needs besides the checkpoint;
 * EstStepRows the rows it draws from (y: the training targets, which are
 * standardised for regressors) and its scratch.
 */
typedef struct EstStepPlan
{
	int			batch_size;
	int64		n_train;
	int64		score_rows;		/* EstScoreSampleSize of the call */
	int			n_inputs;
	int			label_width;
	double		l1;
	double		l2;
	double		clip_norm;
	bool		has_schedule;
	EstSchedule schedule;
	double		learning_rate;
	double		linear_learning_rate;
} EstStepPlan;

typedef struct EstStepRows
{
	const float *X;
	const float *y;
	const float *w;				/* NULL: all 1 */
	uint32	   *perm;			/* the epoch's order of the n_train rows */
	void	   *stream;			/* not NULL: the rows come from a stream
								 * (train.c) instead */
	float	   *Xb;				/* the step's rows */
	float	   *yb;
	float	   *wb;

	/*
	 * A parallel member that holds some of the rows only (a shard's): X and
	 * y are rows [first, first + n_own) of the n_train, indexed from first;
	 * so is w, which has the weights of all of them (w[-first] is the first
	 * row's).  n_own is -1 when X and y are all the rows.
	 */
	int64		first;
	int64		n_own;
} EstStepRows;

typedef struct EstTeam EstTeam;
struct dsm_segment;

/*
 * est_train's loss and accuracy: on a tenth of the rows the call trains
 * on, at least EST_SCORE_SAMPLE_MIN and at most EST_SCORE_SAMPLE training
 * rows (EstScoreSampleSize)
 */
#define EST_SCORE_SAMPLE	100000
#define EST_SCORE_SAMPLE_MIN 10000

/*
 * est_train scores rows (its figures, evaluations, a promotion gate) in
 * blocks of at most this many, or of its batch when larger: the
 * workspace holds every layer's activations and gradients for a block,
 * 24 bytes a unit a row, and blocks of 1024 took 12 MB beyond the rows
 * for five layers of 128 units, where sgemm is as fast on 256
 */
#define EST_TRAIN_SCORE_BLOCK	256
/*
 * The buffers that grow with a scoring block's rows (est_predict_table,
 * est_evaluate) take at most about this: a wide network scores in blocks
 * of fewer rows (EstWorkspaceRows).
 */
#define EST_SCORE_BLOCK_BYTES	(16 * 1024 * 1024)

extern int64 EstScoreSampleSize(int64 n, int64 steps, int batch_size);
extern void EstScoreSample(const EstModelDef *def, EstCheckpoint *ckpt,
						   EstWorkspace *ws, const EstData *data, int64 n,
						   int64 size, int64 first, int64 from, int64 to,
						   EstMetricSet *set);

extern void EstStepRowsInit(EstStepRows *rows, EstCheckpoint *ckpt,
							const EstStepPlan *sp, const float *X,
							const float *y, const float *w, EstTeam *team);
extern double EstTrainStep(EstCheckpoint *ckpt, EstWorkspace *ws,
						   EstStepRows *rows, const EstStepPlan *sp,
						   EstTeam *team);
extern void EstCheckNotTraining(const char *name, const char *action);
extern bool EstSameColumns(const EstModelDef *def, const EstTransform *tf,
						   char **names, int n_names, const char *param,
						   bool linear, const int *inputs, int n_inputs);

/* parallel training (parallel.c) */
extern EstTeam *EstTeamBegin(int n_workers, const EstModelDef *def,
							 const uint8_t *ckpt, size_t ckpt_len,
							 size_t n_params, const EstStepPlan *sp,
							 int64 steps,
							 const float *X, const float *y,
							 const float *y_score, const float *w,
							 struct dsm_segment *rows_seg);
extern void EstTeamScore(EstTeam *team, EstCheckpoint *ckpt,
						 EstWorkspace *ws, double *loss, double *accuracy);
extern int	EstTeamSize(const EstTeam *team);
extern void EstTeamShare(const EstTeam *team, int batch_size, int *lo,
						 int *hi);
extern float *EstTeamGradient(EstTeam *team);
extern double EstTeamReduce(EstTeam *team, float *sum, size_t n,
							double loss);
extern void EstTeamEnd(EstTeam *team);
extern void EstTeamStop(EstTeam *team);
extern bool EstTeamStopped(const EstTeam *team);
typedef struct EstShard EstShard;
extern EstReader *EstParallelRead(int n_workers, const char *source,
								  BlockNumber blocks, const EstReadSpec *spec,
								  EstReader *reader, const EstCheckpoint *ckpt,
								  Jsonb *params, EstData *data,
								  bool share_rows,
								  struct dsm_segment **rows_seg,
								  EstShard **shard, int64 max_rows,
								  bool *too_large);
extern int64 EstShardRows(const EstShard *shard);
extern uint64 EstShardFingerprint(const EstShard *shard);
extern float EstShardMaxLabel(const EstShard *shard);
extern const void *EstShardFitParts(const EstShard *shard, int *n_parts);
extern const void *EstShardLabelParts(const EstShard *shard, int *n_parts);
extern const float *EstTeamWeights(const EstTeam *team);
extern bool EstTeamHeld(const EstTeam *team, int64 *first, int64 *n_own);
extern int	EstTeamStepRows(const EstTeam *team, int batch_size);
extern EstTeam *EstTeamBeginShard(EstShard *shard, const EstModelDef *def,
								  const uint8_t *ckpt, size_t ckpt_len,
								  size_t n_params, const EstStepPlan *sp,
								  int64 steps, const EstData *own);
/* what the parallel readers, trainers and scorers share */
struct ParallelContext;
extern int	EstLaunchMembers(struct ParallelContext *pcxt, int *member_of);
extern int	EstMemberIndex(pg_atomic_uint32 *ready, const int *member_of);
extern void EstPackText(StringInfo buf, const char *s);
extern const char *EstUnpackText(const char **p);
extern void EstPackFeatures(StringInfo buf, const EstColumn *features, int n);
extern EstColumn *EstUnpackFeatures(const char **p, int n);
struct shm_mq;
struct shm_mq_handle;
extern struct shm_mq_handle **EstCreateQueues(struct ParallelContext *pcxt,
											  char *area, int n, Size bytes,
											  struct shm_mq **mqs);
extern struct shm_mq_handle *EstWorkerQueue(struct dsm_segment *seg,
											char *queues, Size bytes);


/* ----------------------------------------------------------------
 * Export, import and weights (transfer.c)
 *
 * est_export writes a model bundle: its definition and its serving
 * checkpoint, with a checksum; est_import checks one and creates a model
 * from it.  The layout is the comment atop src/transfer.c.
 * ----------------------------------------------------------------
 */
#define EST_BUNDLE_MAGIC	"ESTMODL"	/* plus its NUL: 8 bytes */
#define EST_BUNDLE_VERSION	1

extern Datum est_export(PG_FUNCTION_ARGS);
extern Datum est_import(PG_FUNCTION_ARGS);
extern Datum est_weights(PG_FUNCTION_ARGS);


/* ----------------------------------------------------------------
 * Grants (model.c)
 * ----------------------------------------------------------------
 */
extern EstCachedModel *EstCacheAcquireFor(const char *name, EstPrivilege priv,
										  const char *action);
extern bool EstCatalogGrant(const char *name, Oid grantee,
							const char *privilege);
extern uint64 EstCatalogRevoke(const char *name, Oid grantee,
							   const char *privilege);


#endif							/* ESTIMATOR_H */
