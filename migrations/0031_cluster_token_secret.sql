-- A registered cluster may be reached through a token Secret on the home cluster instead of a
-- kubeconfig file (#23): the API address Berth uses and the Secret's namespace/name. Empty:
-- not used (the entry has a kubeconfig).
ALTER TABLE clusters ADD COLUMN api_server text NOT NULL DEFAULT '';
ALTER TABLE clusters ADD COLUMN token_secret text NOT NULL DEFAULT '';
