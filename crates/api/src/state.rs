//! What every request shares: the catalog, the settings, the lake root's object store, and
//! each dataset's entity repository, opened once.

use std::collections::HashMap;
use std::sync::Arc;

use lakehouse::model::DatasetName;
use lakehouse::repository::{Catalog, EntityRepository};
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::Mutex;

use crate::error::ApiResult;
use crate::settings::ApiSettings;

/// The server's shared state.
pub struct AppState {
    /// The lake.
    pub catalog: Catalog,
    /// The API settings.
    pub settings: ApiSettings,
    /// The lake root, as the blob protocol serves it (a local lake prunes folders a delete
    /// empties).
    pub root: Arc<dyn ObjectStore>,
    /// Open repositories by dataset name. A repository holds the dataset's config as read when
    /// opened; a blob write to `{dataset}/config.yml` drops it, so the next request reads the
    /// new one.
    repos: Mutex<HashMap<DatasetName, Arc<EntityRepository>>>,
}

/// The state as handlers receive it.
pub type State = Arc<AppState>;

impl AppState {
    /// The state of a server over `catalog`.
    ///
    /// # Errors
    /// As [`Location::object_store`](lakehouse::storage::Location::object_store).
    pub fn new(catalog: Catalog, settings: ApiSettings) -> lakehouse::Result<AppState> {
        let root: Arc<dyn ObjectStore> = match catalog.root().local_path() {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|e| lakehouse::Error::Io(path.display().to_string(), e))?;
                Arc::new(LocalFileSystem::new_with_prefix(path)?.with_automatic_cleanup(true))
            }
            None => catalog.root().object_store()?,
        };
        Ok(AppState { catalog, settings, root, repos: Mutex::default() })
    }

    /// The repository of the dataset named `name` (ensured on first use, which writes its
    /// `config.yml` and creates its ZFS datasets when `LAKEHOUSE_ON_ZFS` is set).
    ///
    /// # Errors
    /// 400 for an invalid or reserved name; the errors of opening it.
    pub async fn repo(&self, name: &str) -> ApiResult<Arc<EntityRepository>> {
        let name = DatasetName::new(name)?;
        let mut repos = self.repos.lock().await;
        if let Some(repo) = repos.get(&name) {
            return Ok(repo.clone());
        }
        let dataset = self.catalog.dataset(name.clone(), None)?;
        let repo = Arc::new(EntityRepository::open(&dataset).await?);
        repos.insert(name, repo.clone());
        Ok(repo)
    }

    /// The repository of the dataset named `name` if it exists (has a `config.yml`), without
    /// creating it: reads of a dataset nobody wrote answer empty and leave no trace.
    ///
    /// # Errors
    /// 400 for an invalid or reserved name; the errors of opening it.
    pub async fn existing(&self, name: &str) -> ApiResult<Option<Arc<EntityRepository>>> {
        let dataset = DatasetName::new(name)?;
        if self.repos.lock().await.contains_key(&dataset) {
            return self.repo(name).await.map(Some);
        }
        // Asked of the root store: opening the dataset's own would create its folder.
        let config = object_store::path::Path::from_iter([dataset.as_str(), "config.yml"]);
        match self.root.head(&config).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(lakehouse::Error::from(e).into()),
        }
        self.repo(name).await.map(Some)
    }

    /// Forgets the open repository of `name`, if any (its config changed).
    pub async fn forget(&self, name: &str) {
        if let Ok(name) = DatasetName::new(name) {
            self.repos.lock().await.remove(&name);
        }
    }
}
