//! The object store: every object as JSON, one global resourceVersion counter, and an event
//! history that watches resume from. Controllers (part 2) are clients of this same API.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::resources::{self, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::validation;

/// `(namespace or "", name)`.
pub type Key = (String, String);

/// Live events, for watches.
pub type EventReceiver = broadcast::Receiver<Arc<Event>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches report it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub resource: &'static ResourceType,
    pub kind: EventType,
    pub object: Value,
    /// The object before the change, so a watch with a selector can tell an object that left
    /// the selection (reported as DELETED) from one that entered it (ADDED).
    pub old: Option<Value>,
}

/// How dependents of a deleted object are treated (`propagationPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted after the owner (the default for most resources).
    Background,
    /// The owner waits for its dependents; the sandbox deletes them first, then the owner.
    Foreground,
    /// Dependents stay, with the owner reference removed.
    Orphan,
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status` (for resources that have a status subresource).
    Main,
    /// Only `status`.
    Status,
    /// Everything: controllers and subresources like `approval` that have their own rules.
    Whole,
}

/// What a list returns.
#[derive(Debug)]
pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// One page of a list, of objects or of their JSON text.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Parameters of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Query {
    pub fn is_everything(&self) -> bool {
        self.namespace.is_none()
            && self.labels == LabelSelector::default()
            && self.fields == FieldSelector::default()
    }

    pub fn matches(&self, object: &Value) -> bool {
        if self.is_everything() {
            return true;
        }
        if let Some(ns) = &self.namespace
            && object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(&labels_of(object)) && self.fields.matches(object)
    }
}

pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

struct Inner {
    rv: u64,
    tables: HashMap<&'static str, BTreeMap<Key, Value>>,
    /// Each object's JSON, kept beside it so a list of 50,000 pods is a concatenation rather
    /// than a deep copy and a serialisation under load.
    texts: HashMap<&'static str, HashMap<Key, Arc<str>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
}

/// Where an object of `rt` lives in its table.
fn key_for(rt: &ResourceType, ns: &str, name: &str) -> Key {
    let ns = if rt.namespaced {
        ns.to_owned()
    } else {
        String::new()
    };
    (ns, name.to_owned())
}

impl Inner {
    /// A copy of the stored object, or the API's 404.
    fn current(&self, rt: &ResourceType, key: &Key, name: &str) -> Result<Value, ApiError> {
        self.tables
            .get(table_key(rt))
            .and_then(|t| t.get(key))
            .cloned()
            .ok_or_else(|| not_found(rt, name))
    }

    fn put(&mut self, rt: &ResourceType, key: Key, value: Value) {
        let text: Arc<str> = value.to_string().into();
        self.texts
            .entry(table_key(rt))
            .or_default()
            .insert(key.clone(), text);
        self.tables
            .entry(table_key(rt))
            .or_default()
            .insert(key, value);
    }

    fn take(&mut self, rt: &ResourceType, key: &Key) -> Option<Value> {
        if let Some(t) = self.texts.get_mut(table_key(rt)) {
            t.remove(key);
        }
        self.tables.get_mut(table_key(rt))?.remove(key)
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn table_key(rt: &ResourceType) -> &'static str {
    // Plural names are unique across the served groups, but key by the static entry anyway.
    rt.plural
}

impl Store {
    /// `history_limit` is how many events watches can resume across; older ones answer 410.
    pub fn new(history_limit: usize) -> Store {
        let (events, _) = broadcast::channel(4096);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                tables: HashMap::new(),
                texts: HashMap::new(),
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
            }),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write is one insert),
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Reads the tables under the lock: controllers use it to see a consistent picture.
    pub fn read<R>(&self, f: impl FnOnce(&crate::admission::Tables) -> R) -> R {
        f(&self.lock().tables)
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> EventReceiver {
        self.events.subscribe()
    }

    /// Objects of one type in one namespace (all of them for cluster-scoped types).
    pub fn list_in(&self, rt: &'static ResourceType, ns: &str) -> Vec<Value> {
        let inner = self.lock();
        if rt.namespaced {
            crate::admission::in_namespace(&inner.tables, table_key(rt), ns)
                .cloned()
                .collect()
        } else {
            inner
                .tables
                .get(table_key(rt))
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default()
        }
    }

    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock().current(rt, &key_for(rt, ns, name), name)
    }

    pub fn list(
        &self,
        rt: &'static ResourceType,
        query: &Query,
        limit: Option<usize>,
        continue_after: Option<&Key>,
    ) -> ListResult {
        let page = self.list_with(rt, query, limit, continue_after, |_, _, v| v.clone());
        ListResult {
            items: page.items,
            resource_version: page.resource_version,
            continue_token: page.continue_token,
            remaining: page.remaining,
        }
    }

    /// Like [`Store::list`], but each item as the JSON text kept beside it: what the API
    /// sends, without copying or serialising objects.
    pub fn list_json(
        &self,
        rt: &'static ResourceType,
        query: &Query,
        limit: Option<usize>,
        continue_after: Option<&Key>,
    ) -> Page<Arc<str>> {
        self.list_with(rt, query, limit, continue_after, |inner, key, value| {
            inner
                .texts
                .get(table_key(rt))
                .and_then(|t| t.get(key))
                .cloned()
                .unwrap_or_else(|| value.to_string().into())
        })
    }

    fn list_with<T>(
        &self,
        rt: &'static ResourceType,
        query: &Query,
        limit: Option<usize>,
        continue_after: Option<&Key>,
        pick: impl Fn(&Inner, &Key, &Value) -> T,
    ) -> Page<T> {
        let inner = self.lock();
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = None;
        if let Some(table) = inner.tables.get(table_key(rt)) {
            let range: Box<dyn Iterator<Item = (&Key, &Value)>> = match continue_after {
                Some(after) => Box::new(table.range::<Key, _>((
                    std::ops::Bound::Excluded(after.clone()),
                    std::ops::Bound::Unbounded,
                ))),
                None => Box::new(table.iter()),
            };
            let mut matching = range.filter(|(_, v)| query.matches(v));
            for (key, value) in matching.by_ref() {
                items.push(pick(&inner, key, value));
                if limit.is_some_and(|l| items.len() >= l) {
                    continue_token = Some(key.clone());
                    break;
                }
            }
            if continue_token.is_some() {
                let rest = matching.count();
                if rest == 0 {
                    continue_token = None;
                } else {
                    remaining = Some(rest);
                }
            }
        }
        Page {
            items,
            resource_version: inner.rv,
            continue_token: continue_token.map(|(ns, name)| encode_continue(inner.rv, &ns, &name)),
            remaining,
        }
    }

    /// Creates `object` (already carrying apiVersion, kind, metadata.name or generateName).
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        if rt.namespaced {
            let namespaces = resources::find("", "v1", "namespaces")
                .ok_or_else(|| ApiError::internal("no namespaces"))?;
            let Some(namespace) = inner
                .tables
                .get(table_key(namespaces))
                .and_then(|t| t.get(&(String::new(), ns.to_owned())))
            else {
                return Err(not_found(namespaces, ns));
            };
            if namespace.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    rt.qualified(),
                    name_of(&object)
                )));
            }
        }
        fill_generated_name(&mut object);
        let name = name_of(&object).to_owned();
        let causes = validation::validate(rt.kind, &object);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt.kind, rt.group, &name, causes));
        }
        if rt.namespaced {
            crate::admission::admit(&inner.tables, rt, ns, &mut object)?;
        }
        let key = key_for(rt, ns, &name);
        if inner
            .tables
            .get(table_key(rt))
            .is_some_and(|t| t.contains_key(&key))
        {
            return Err(ApiError::already_exists(
                &rt.qualified(),
                rt.group,
                rt.plural,
                &name,
            ));
        }
        inner.rv += 1;
        let rv = inner.rv;
        let meta = metadata_mut(&mut object);
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.remove("deletionTimestamp");
        if rt.generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        object["apiVersion"] = json!(rt.api_version());
        object["kind"] = json!(rt.kind);
        if rt.kind == "Namespace" {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
            if let Some(labels) = metadata_mut(&mut object)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        inner.put(rt, key, object.clone());
        self.record(&mut inner, rt, EventType::Added, object.clone(), None);
        Ok(object)
    }

    /// Replaces an object (PUT). A resourceVersion in `object` must match the stored one.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        object: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        self.modify(rt, ns, name, part, |current| {
            if let Some(sent) = object.pointer("/metadata/resourceVersion").and_then(Value::as_str)
                && !sent.is_empty()
                && Some(sent) != current.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            {
                return Err(ApiError::conflict(
                    &rt.qualified(),
                    rt.group,
                    rt.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
            *current = object.clone();
            Ok(())
        })
    }

    /// Read-modify-write under the lock: patches, subresources and controllers use this.
    /// `change` sees the stored object and edits it; the store then enforces what `part` may
    /// change, bumps generation on spec changes, and records the event.
    pub fn modify(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = key_for(rt, ns, name);
        let old = inner.current(rt, &key, name)?;
        let mut new = old.clone();
        change(&mut new)?;
        if name_of(&new) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&new)
            )));
        }
        // What the client may not change, whatever it sent.
        let keep = |new: &mut Value, pointer_parent: &str, field: &str| {
            let original = old.pointer(&format!("{pointer_parent}/{field}")).cloned();
            if let Some(parent) = new
                .pointer_mut(pointer_parent)
                .and_then(Value::as_object_mut)
            {
                match original {
                    Some(v) => {
                        parent.insert(field.to_owned(), v);
                    }
                    None => {
                        parent.remove(field);
                    }
                }
            }
        };
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "generation",
        ] {
            keep(&mut new, "/metadata", field);
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        match part {
            Part::Main if rt.status => {
                keep(&mut new, "", "status");
            }
            Part::Status => {
                let status = new.get("status").cloned();
                let mut only_status = old.clone();
                match status {
                    Some(s) => only_status["status"] = s,
                    None => {
                        if let Some(o) = only_status.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                // Metadata labels and annotations may change through status too, as on a real server.
                new = only_status;
            }
            Part::Main | Part::Whole => {}
        }
        let causes = validation::validate(rt.kind, &new);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt.kind, rt.group, name, causes));
        }
        if rt.generation && part != Part::Status && spec_changed(&old, &new) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        if strip_rv(&old) == strip_rv(&new) {
            // A no-op write changes nothing, not even the resourceVersion, as on a real server.
            return Ok(old);
        }
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers_left = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left {
            // The last finalizer went: the object is gone now.
            inner.take(rt, &key);
            self.record(&mut inner, rt, EventType::Deleted, new.clone(), Some(old));
            self.after_removal(&mut inner, rt, &new, Propagation::Background);
            return Ok(new);
        }
        inner.put(rt, key, new.clone());
        self.record(&mut inner, rt, EventType::Modified, new.clone(), Some(old));
        Ok(new)
    }

    /// Deletes an object: at once, or marked with a deletionTimestamp while finalizers remain.
    /// `expected_uid` / `expected_rv` are the request's preconditions.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        propagation: Propagation,
        expected_uid: Option<&str>,
        expected_rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = key_for(rt, ns, name);
        let current = inner.current(rt, &key, name)?;
        if let Some(uid) = expected_uid
            && current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
                "Precondition failed: UID in precondition does not match the UID in record",
            ));
        }
        if let Some(rv) = expected_rv
            && current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        Ok(self.delete_locked(&mut inner, rt, key, current, propagation))
    }

    fn delete_locked(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        key: Key,
        current: Value,
        propagation: Propagation,
    ) -> Value {
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let is_namespace = rt.kind == "Namespace";
        if propagation == Propagation::Foreground {
            // Dependents first, so the owner is gone only once nothing points at it.
            self.delete_dependents(inner, &current, Propagation::Foreground);
        }
        if has_finalizers || is_namespace {
            let mut marked = current.clone();
            if marked.pointer("/metadata/deletionTimestamp").is_none() {
                inner.rv += 1;
                let rv = inner.rv;
                let meta = metadata_mut(&mut marked);
                meta.insert("deletionTimestamp".into(), json!(now()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                meta.insert("resourceVersion".into(), json!(rv.to_string()));
                if is_namespace {
                    marked["status"] = json!({"phase": "Terminating"});
                }
                inner.put(rt, key.clone(), marked.clone());
                self.record(
                    inner,
                    rt,
                    EventType::Modified,
                    marked.clone(),
                    Some(current),
                );
            }
            if is_namespace {
                return self.finish_namespace(inner, &key.1).unwrap_or(marked);
            }
            return marked;
        }
        inner.take(rt, &key);
        inner.rv += 1;
        let rv = inner.rv;
        let mut gone = current.clone();
        metadata_mut(&mut gone).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(inner, rt, EventType::Deleted, gone.clone(), Some(current));
        self.after_removal(inner, rt, &gone, propagation);
        gone
    }

    /// Deletes what the namespace holds; once empty, the namespace itself goes. Returns the
    /// deleted namespace when it went.
    fn finish_namespace(&self, inner: &mut Inner, ns: &str) -> Option<Value> {
        for rt in resources::RESOURCES
            .iter()
            .filter(|r| r.namespaced && r.stored)
        {
            let keys: Vec<(Key, Value)> = inner
                .tables
                .get(table_key(rt))
                .map(|t| {
                    t.iter()
                        .filter(|(k, v)| {
                            k.0 == ns && v.pointer("/metadata/deletionTimestamp").is_none()
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for (key, value) in keys {
                self.delete_locked(inner, rt, key, value, Propagation::Background);
            }
        }
        let empty = resources::RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .all(|rt| {
                inner
                    .tables
                    .get(table_key(rt))
                    .is_none_or(|t| !t.keys().any(|k| k.0 == ns))
            });
        if !empty {
            return None;
        }
        let namespaces = resources::find("", "v1", "namespaces")?;
        let key = (String::new(), ns.to_owned());
        let current = inner.take(namespaces, &key)?;
        inner.rv += 1;
        let rv = inner.rv;
        let mut gone = current.clone();
        metadata_mut(&mut gone).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(
            inner,
            namespaces,
            EventType::Deleted,
            gone.clone(),
            Some(current),
        );
        Some(gone)
    }

    /// After an object left the store: its dependents per `propagation`, and a terminating
    /// namespace that may now be empty.
    fn after_removal(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        gone: &Value,
        propagation: Propagation,
    ) {
        match propagation {
            Propagation::Orphan => self.orphan_dependents(inner, gone),
            Propagation::Background | Propagation::Foreground => {
                self.delete_dependents(inner, gone, Propagation::Background)
            }
        }
        if rt.namespaced
            && let Some(ns) = gone.pointer("/metadata/namespace").and_then(Value::as_str)
        {
            let terminating = resources::find("", "v1", "namespaces")
                .and_then(|n| inner.tables.get(table_key(n)))
                .and_then(|t| t.get(&(String::new(), ns.to_owned())))
                .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some());
            if terminating {
                let ns = ns.to_owned();
                self.finish_namespace(inner, &ns);
            }
        }
    }

    fn dependents(inner: &Inner, owner_uid: &str) -> Vec<(&'static ResourceType, Key, Value)> {
        let mut out = Vec::new();
        for rt in resources::RESOURCES.iter().filter(|r| r.stored) {
            if let Some(table) = inner.tables.get(table_key(rt)) {
                for (key, value) in table {
                    let owned = value
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                        });
                    if owned {
                        out.push((rt, key.clone(), value.clone()));
                    }
                }
            }
        }
        out
    }

    fn delete_dependents(&self, inner: &mut Inner, owner: &Value, propagation: Propagation) {
        let Some(uid) = owner.pointer("/metadata/uid").and_then(Value::as_str) else {
            return;
        };
        for (rt, key, value) in Self::dependents(inner, uid) {
            if value.pointer("/metadata/deletionTimestamp").is_none() {
                self.delete_locked(inner, rt, key, value, propagation);
            }
        }
    }

    fn orphan_dependents(&self, inner: &mut Inner, owner: &Value) {
        let Some(uid) = owner.pointer("/metadata/uid").and_then(Value::as_str) else {
            return;
        };
        for (rt, key, old) in Self::dependents(inner, uid) {
            let mut new = old.clone();
            if let Some(refs) = new
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
            }
            inner.rv += 1;
            let rv = inner.rv;
            metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
            inner.put(rt, key, new.clone());
            self.record(inner, rt, EventType::Modified, new, Some(old));
        }
    }

    fn record(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        kind: EventType,
        object: Value,
        old: Option<Value>,
    ) {
        let event = Arc::new(Event {
            rv: inner.rv,
            resource: rt,
            kind,
            object,
            old,
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > inner.history_limit {
            inner.history.pop_front();
        }
        // No receivers is fine: nobody watches.
        let _ = self.events.send(event);
    }

    /// Starts a watch after `rv`: the events since then (410 when they are no longer kept) and
    /// a receiver for what follows, taken under one lock so nothing falls between.
    pub fn watch_from(
        &self,
        rt: &'static ResourceType,
        rv: u64,
    ) -> Result<(Vec<Arc<Event>>, EventReceiver), ApiError> {
        let inner = self.lock();
        let oldest = inner.history.front().map_or(inner.rv, |e| e.rv);
        if rv + 1 < oldest {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                oldest - 1
            )));
        }
        let backlog = inner
            .history
            .iter()
            .filter(|e| e.rv > rv && std::ptr::eq(e.resource, rt))
            .cloned()
            .collect();
        Ok((backlog, self.events.subscribe()))
    }

    /// The current objects and a receiver for later events: a watch without resourceVersion.
    pub fn watch_current(
        &self,
        rt: &'static ResourceType,
        query: &Query,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let inner = self.lock();
        let objects = inner
            .tables
            .get(table_key(rt))
            .map(|t| t.values().filter(|v| query.matches(v)).cloned().collect())
            .unwrap_or_default();
        (objects, inner.rv, self.events.subscribe())
    }
}

fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

fn strip_rv(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    v
}

pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn metadata_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        // Made an object just above.
        _ => unreachable!("metadata is an object"),
    }
}

fn fill_generated_name(object: &mut Value) {
    if !name_of(object).is_empty() {
        return;
    }
    if let Some(prefix) = object
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    {
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(5)
            .collect();
        let name = format!("{prefix}{suffix}");
        metadata_mut(object).insert("name".into(), json!(name));
    }
}

fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::not_found(&rt.qualified(), rt.group, rt.plural, name)
}

/// A continue token: where the next page starts, opaque to clients.
pub fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    use base64::Engine;
    let raw = json!({"rv": rv, "ns": ns, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_continue(token: &str) -> Option<Key> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((
        v.get("ns")?.as_str()?.to_owned(),
        v.get("name")?.as_str()?.to_owned(),
    ))
}
