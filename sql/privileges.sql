-- Privileges on models: three roles use, change, read and drop each
-- other's models.  The owner (or a member of the owning role, or a
-- superuser) does everything; est_grant gives 'predict' or 'train' to a
-- role or to PUBLIC; anyone else gets insufficient_privilege from every
-- function and sees nothing of the model in the catalog.
SET client_min_messages = warning;

CREATE ROLE regress_priv_alice;
CREATE ROLE regress_priv_bob;
CREATE ROLE regress_priv_carol;
CREATE ROLE regress_priv_dave;
GRANT regress_priv_alice TO regress_priv_dave;
GRANT SELECT ON iris_train, iris_test TO regress_priv_alice, regress_priv_bob,
	regress_priv_carol, regress_priv_dave;
CREATE TABLE priv_alice_only AS SELECT * FROM iris_train;
-- the cost that EXPLAIN shows for a call per row, in operators
CREATE FUNCTION priv_cost(call text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) SELECT ' || call INTO plan;
	RETURN round(((plan->0->'Plan'->>'Total Cost')::float8 /
				  current_setting('cpu_operator_cost')::float8)::numeric, 1);
END $$;
GRANT SELECT ON priv_alice_only TO regress_priv_alice;

SET ROLE regress_priv_alice;
SELECT global_step FROM est_train('priv_m', 'priv_alice_only', steps => 20, params => '{"seed": 1}');
SELECT count(*) AS metrics FROM est_evaluate('priv_m', 'iris_test');
SELECT name, owner FROM estimator.models WHERE name = 'priv_m';
RESET ROLE;

-- bob has no privilege: every function refuses, the catalog hides the model
SET ROLE regress_priv_bob;
SELECT expect_error($$SELECT est_predict('priv_m', t) FROM iris_test t$$);
SELECT expect_error($$SELECT est_predict_proba('priv_m', ARRAY[1, 2, 3, 4])$$);
SELECT expect_error($$SELECT est_predict_label('priv_m', t) FROM iris_test t$$);
SELECT expect_error($$SELECT * FROM est_predict_table('priv_m', 'iris_test')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('priv_m', 'iris_test')$$);
SELECT expect_error($$SELECT * FROM est_confusion_matrix('priv_m', 'iris_test')$$);
SELECT expect_error($$SELECT * FROM est_feature_info('priv_m')$$);
SELECT expect_error($$SELECT * FROM est_train('priv_m', 'iris_train', steps => 1)$$);
SELECT expect_error($$SELECT est_drop_model('priv_m')$$);
SELECT expect_error($$SELECT est_grant('priv_m', 'regress_priv_bob', 'predict')$$);
SELECT expect_error($$SELECT est_revoke('priv_m', 'regress_priv_alice')$$);
SELECT count(*) AS models FROM estimator.models WHERE name = 'priv_m';
SELECT count(*) AS log_rows FROM estimator.training_log WHERE model = 'priv_m';
SELECT count(*) AS evaluations FROM estimator.evaluations WHERE model = 'priv_m';
SELECT count(*) AS grants FROM estimator.model_grants WHERE model = 'priv_m';
SELECT count(*) AS checkpoints FROM estimator.checkpoints WHERE model = 'priv_m';
SELECT count(*) AS definitions FROM estimator.model_catalog WHERE name = 'priv_m';
SELECT expect_error($$INSERT INTO estimator.model_grants (model, grantee, privilege, grantor) VALUES ('priv_m', 'regress_priv_bob', 'train', 'regress_priv_alice')$$);
SELECT expect_error($$UPDATE estimator.model_catalog SET owner = 'regress_priv_bob' WHERE name = 'priv_m'$$);
SELECT est_has_model_privilege('priv_m', 'predict') AS predict, est_has_model_privilege('priv_m', 'owner') AS owner;
-- the planner prices bob's call as one of a model that does not exist:
-- EXPLAIN does not tell him that the model exists or how large it is
SELECT priv_cost($$est_predict('priv_m', ARRAY[1, 2, 3, 4])$$) =
	   priv_cost($$est_predict('priv_none', ARRAY[1, 2, 3, 4])$$) AS cost_hides_model;
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT priv_cost($$est_predict('priv_m', ARRAY[1, 2, 3, 4])$$) <>
	   priv_cost($$est_predict('priv_none', ARRAY[1, 2, 3, 4])$$) AS cost_of_model;
RESET ROLE;

-- alice gives bob 'predict' and carol 'train'
SET ROLE regress_priv_alice;
SELECT est_grant('priv_m', 'regress_priv_bob', 'predict');
SELECT est_grant('priv_m', 'regress_priv_bob', 'predict') AS again;
SELECT est_grant('priv_m', 'regress_priv_carol', 'train');
SELECT grantee, privilege, grantor FROM estimator.model_grants WHERE model = 'priv_m' ORDER BY 1::text, 2;
SELECT expect_error($$SELECT est_grant('priv_m', 'regress_priv_bob', 'own')$$);
SELECT expect_error($$SELECT est_grant('priv_m', 'regress_priv_nobody', 'predict')$$);
SELECT expect_error($$SELECT est_grant('priv_none', 'regress_priv_bob', 'predict')$$);
RESET ROLE;

-- bob predicts and evaluates, sees the model and its log, and cannot
-- train, drop or grant
SET ROLE regress_priv_bob;
SELECT count(*) AS predicted FROM iris_test t WHERE est_predict('priv_m', t) IS NOT NULL;
SELECT count(*) AS metrics FROM est_evaluate('priv_m', 'iris_test');
SELECT count(*) AS features FROM est_feature_info('priv_m');
SELECT name FROM estimator.models WHERE name = 'priv_m';
SELECT count(*) > 0 AS sees_log FROM estimator.training_log WHERE model = 'priv_m';
SELECT count(*) > 0 AS sees_checkpoints FROM estimator.checkpoints WHERE model = 'priv_m';
SELECT expect_error($$DELETE FROM estimator.checkpoints WHERE model = 'priv_m'$$);
SELECT grantee, privilege FROM estimator.model_grants WHERE model = 'priv_m' ORDER BY 1::text;
SELECT expect_error($$SELECT * FROM est_train('priv_m', 'iris_train', steps => 1)$$);
SELECT expect_error($$SELECT est_drop_model('priv_m')$$);
SELECT expect_error($$SELECT est_grant('priv_m', 'regress_priv_carol', 'predict')$$);
RESET ROLE;

-- carol trains alice's model, reading the source with her own privileges
SET ROLE regress_priv_carol;
SELECT global_step FROM est_train('priv_m', 'iris_train', steps => 10);
SELECT expect_error($$SELECT * FROM est_train('priv_m', 'priv_alice_only', steps => 10)$$);
SELECT count(*) AS predicted FROM iris_test t WHERE est_predict('priv_m', t) IS NOT NULL;
SELECT expect_error($$SELECT est_drop_model('priv_m')$$);
SELECT expect_error($$SELECT est_revoke('priv_m', 'regress_priv_bob')$$);
SELECT name, owner, global_step FROM estimator.models WHERE name = 'priv_m';
RESET ROLE;

-- revoking: bob loses it; PUBLIC grants reach everyone
SET ROLE regress_priv_alice;
SELECT est_revoke('priv_m', 'regress_priv_bob');
SELECT est_revoke('priv_m', 'regress_priv_bob') AS again;
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT expect_error($$SELECT est_predict('priv_m', t) FROM iris_test t$$);
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT est_grant('priv_m', 'public', 'predict');
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT count(*) AS predicted FROM iris_test t WHERE est_predict('priv_m', t) IS NOT NULL;
SELECT expect_error($$SELECT * FROM est_train('priv_m', 'iris_train', steps => 1)$$);
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT est_revoke('priv_m', 'PUBLIC', 'predict');
RESET ROLE;

-- a role named "Public" is that role, not every role
CREATE ROLE "Public";
SET ROLE regress_priv_alice;
SELECT est_grant('priv_m', 'Public', 'predict');
SELECT grantee, privilege FROM estimator.model_grants WHERE model = 'priv_m' ORDER BY 1::text;
SELECT est_revoke('priv_m', 'Public');
RESET ROLE;
DROP ROLE "Public";

-- a dropped role's grant stays (DROP ROLE knows nothing of it), shown by
-- its OID: est_revoke takes that OID; est_grant does not
CREATE ROLE regress_priv_gone;
SET ROLE regress_priv_alice;
SELECT est_grant('priv_m', 'regress_priv_gone', 'predict');
RESET ROLE;
SELECT 'regress_priv_gone'::regrole::oid AS gone_oid \gset
DROP ROLE regress_priv_gone;
SET ROLE regress_priv_alice;
SELECT count(*) FILTER (WHERE grantee::oid = :gone_oid) AS dropped_grants,
	   count(*) AS grants
  FROM estimator.model_grants WHERE model = 'priv_m';
SELECT split_part(expect_error(format('SELECT est_grant(%L, %L, %L)', 'priv_m', :'gone_oid', 'predict')), ':', 1) AS grant_error;
SELECT est_revoke('priv_m', :'gone_oid') AS revoked;
SELECT count(*) AS grants_left FROM estimator.model_grants WHERE model = 'priv_m';
-- digits that are no OID, or a live role's OID, name no dropped role
SELECT expect_error($$SELECT est_revoke('priv_m', '0')$$);
SELECT expect_error($$SELECT est_revoke('priv_m', '99999999999')$$);
-- nor do digits without a grant to remove: an unused OID, or the dropped
-- role's once its grants are gone
SELECT expect_error($$SELECT est_revoke('priv_m', '4294967295')$$);
SELECT expect_error(format('SELECT est_revoke(%L, %L)', 'priv_m', :'gone_oid')) LIKE '42704:%' AS gone_again;
SELECT split_part(expect_error(format('SELECT est_revoke(%L, %L)', 'priv_m', 'regress_priv_bob'::regrole::oid::text)), ':', 1) AS live_role_oid_error;
RESET ROLE;

-- a PL/pgSQL expression keeps its call site across statements: after SET
-- ROLE under the same snapshot, the privilege is checked again for bob
SELECT expect_error($sql$
DO $do$
DECLARE
	p double precision;
BEGIN
	FOR i IN 1 .. 2 LOOP
		IF i = 2 THEN
			SET LOCAL ROLE regress_priv_bob;
		END IF;
		p := est_predict('priv_m', ARRAY[5.1, 3.5, 1.4, 0.2]);
	END LOOP;
END
$do$ $sql$);

-- the eval_source that alice's creating call stored is SQL of hers: it
-- runs when alice trains, never with the rights of carol (a train grantee)
-- or of a superuser, who give their own evaluation rows instead
SET ROLE regress_priv_alice;
SELECT global_step FROM est_train('priv_eval', 'iris_train', steps => 2, params => '{"seed": 1, "eval_source": "iris_test"}');
SELECT est_grant('priv_eval', 'regress_priv_carol', 'train');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT expect_error($$SELECT * FROM est_train('priv_eval', 'iris_train', steps => 1)$$);
SELECT expect_error($$SELECT * FROM est_train('priv_eval', 'iris_train', steps => 1, reset => true)$$);
SELECT global_step FROM est_train('priv_eval', 'iris_train', steps => 1, params => '{"eval_fraction": 0.2}');
SELECT global_step FROM est_train('priv_eval', 'iris_train', steps => 1, params => '{"eval_source": "iris_test"}');
RESET ROLE;
SELECT expect_error($$SELECT * FROM est_train('priv_eval', 'iris_train', steps => 1)$$);
-- carol's reset with evaluation rows of her own replaces the stored
-- eval_source (it was "cannot both be given")
SET ROLE regress_priv_carol;
SELECT global_step FROM est_train('priv_eval', 'iris_train', steps => 1, reset => true, params => '{"eval_fraction": 0.2}');
RESET ROLE;
SELECT params FROM estimator.model_catalog WHERE name = 'priv_eval';
SET ROLE regress_priv_alice;
SELECT global_step FROM est_train('priv_eval', 'iris_train', steps => 1);
SELECT est_drop_model('priv_eval');
RESET ROLE;

-- a reset stores its params in the model: carol (train) may not leave an
-- eval_source there, which alice's next training (or her pg_cron job)
-- would run with alice's rights; her own evaluation rows she may give
SET ROLE regress_priv_alice;
SELECT global_step FROM est_train('priv_reset', 'iris_train', steps => 2, params => '{"seed": 1}');
SELECT est_grant('priv_reset', 'regress_priv_carol', 'train');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT expect_error($$SELECT * FROM est_train('priv_reset', 'iris_train', steps => 1, reset => true, params => '{"eval_source": "iris_test"}')$$);
SELECT global_step FROM est_train('priv_reset', 'iris_train', steps => 1, reset => true, params => '{"eval_fraction": 0.2}');
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT params FROM estimator.model_catalog WHERE name = 'priv_reset';
SELECT est_drop_model('priv_reset');
RESET ROLE;

-- nor does a bundle carry one: bob imports alice's model without the
-- eval_source of its params, which his trainings would have run with his
-- rights as SQL of his own
SET ROLE regress_priv_alice;
SELECT global_step FROM est_train('priv_bundle', 'iris_train', steps => 2, params => '{"seed": 1, "eval_source": "iris_test"}');
SELECT est_grant('priv_bundle', 'regress_priv_bob', 'predict');
RESET ROLE;
SET ROLE regress_priv_bob;
SET client_min_messages = notice;
SELECT global_step FROM est_import('priv_bundle_bob', est_export('priv_bundle'));
SET client_min_messages = warning;
SELECT params FROM estimator.model_catalog WHERE name = 'priv_bundle_bob';
SELECT global_step FROM est_train('priv_bundle_bob', 'iris_train', steps => 1);
SELECT count(eval_metrics) AS evaluated_steps FROM estimator.training_log WHERE model = 'priv_bundle_bob';
SELECT est_drop_model('priv_bundle_bob');
RESET ROLE;
SELECT est_drop_model('priv_bundle');

-- dave, a member of alice's role, owns the model through her
SET ROLE regress_priv_dave;
SELECT est_has_model_privilege('priv_m', 'owner') AS owner;
SELECT est_grant('priv_m', 'regress_priv_bob', 'train');
SELECT est_drop_model('priv_m');
SELECT count(*) AS grants_left FROM estimator.model_grants WHERE model = 'priv_m';
RESET ROLE;

DROP TABLE priv_alice_only;
DROP FUNCTION priv_cost(text);
REVOKE SELECT ON iris_train, iris_test FROM regress_priv_alice, regress_priv_bob,
	regress_priv_carol, regress_priv_dave;
DROP ROLE regress_priv_alice, regress_priv_bob, regress_priv_carol, regress_priv_dave;
