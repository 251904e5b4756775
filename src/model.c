/*-------------------------------------------------------------------------
 *
 * model.c
 *	  SQL functions that manage models as a whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "estimator.h"

/*
 * est_drop_model(model) drops a model with its checkpoints and log.
 */
PG_FUNCTION_INFO_V1(est_drop_model);

Datum
est_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstModelDef *def;

	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckOwner(def, "drop");
	EstCatalogDropModel(name);
	SPI_finish();
	PG_RETURN_VOID();
}
