//! One service per capability, wiring domain, cluster and store; together they implement the
//! UI's [`Backend`].

use app::backend::Backend;
use domain::health::Readiness;

use crate::store::Store;

/// Everything the HTTP layer and the server functions call.
#[derive(Clone, Debug)]
pub struct Services {
    store: Store,
}

impl Services {
    pub fn new(store: Store) -> Self {
        Services { store }
    }

    pub async fn readiness(&self) -> Readiness {
        Readiness::from_checks(vec![self.store.probe().await])
    }
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn readiness(&self) -> Readiness {
        Services::readiness(self).await
    }
}
