//! SCIM 2.0 provisioning at `/scim/v2` (RFC 7644): Okta or Microsoft Entra ID keeps the
//! principal registry (docs/scim.md).
//!
//! - `GET /scim/v2/ServiceProviderConfig`, `/ResourceTypes[/{id}]`, `/Schemas[/{id}]`
//! - `GET|POST /scim/v2/Users`, `GET|PUT|PATCH|DELETE /scim/v2/Users/{id}`, and the same for
//!   `Groups`
//!
//! Behind a bearer token of its own (`[identity.scim] token_env`, compared in constant time);
//! not configured, every route answers 404. Answers are `application/scim+json`, errors in
//! the SCIM error shape.
//!
//! A write is computed by `clearance-scim` from one snapshot of every SCIM resource, then
//! stored with the principals it affects in one transaction ([`Store::scim_commit`]), which
//! is refused if another SCIM write landed since the snapshot (then it is computed again).
//! Every change is a change to who may do what: it is recorded in the audit log (the
//! affected principals' facts before and after) and this gateway's registry is reloaded,
//! both before the answer, so the caller's next model request already sees it (a deactivated
//! user's keys are refused at once). Other replicas reload on the principals change version.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use chrono::{DateTime, Utc};
use clearance_core::audit::AdminAction;
use clearance_core::limits::{CHANGE_DETAILS_BUDGET, parts_within};
use clearance_core::principal::{Principal, PrincipalId};
use clearance_scim::list::{ListQuery, Projection, list_response};
use clearance_scim::mapping::{IdAttribute, to_principal};
use clearance_scim::resource::{Group, Meta, User, if_match_allows, normalize, render};
use clearance_scim::{ResourceKind, ScimError, ScimType, patch, schema};
use clearance_store::{ScimCommit, ScimCommitError, ScimRow, ScimSnapshot, Store};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::admin::{AuthSurface, record_failed_authentication};
use crate::state::AppState;

/// SCIM's media type (RFC 7644 §3.1).
pub const CONTENT_TYPE: &str = "application/scim+json";

/// Who the audit log names as the actor of a SCIM change (never the token).
const SCIM_ACTOR: &str = "scim";

/// How many times a write is computed again after another SCIM write landed first.
const MAX_ATTEMPTS: usize = 8;

/// Most principal entries per audit record of one change (each ≤ ~9 KiB; the byte budget
/// splits sooner when they are large).
const PRINCIPALS_PER_RECORD: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema_by_id))
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/scim/v2/{*rest}", any(unknown))
}

// ---------------------------------------------------------------------------------------------
// Answers

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn error_response(error: &ScimError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = scim_json(status, &error.to_json());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\""),
        );
    }
    response
}

fn internal(error: impl std::fmt::Display) -> ScimError {
    ScimError::new(500, None, error.to_string())
}

fn with_etag(mut response: Response, meta: &Meta) -> Response {
    if let Ok(value) = HeaderValue::from_str(&meta.etag()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The base URL resources are located under, as the identity provider reached it.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/scim/v2")
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// The SCIM settings, or 404 when SCIM is off; then the bearer token, in constant time.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<IdAttribute, ScimError> {
    let Some(scim) = &state.config.identity.scim else {
        return Err(ScimError::not_found(
            "SCIM provisioning is not configured on this gateway ([identity.scim])",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("")
        .trim();
    let matches: bool = match &scim.token {
        Some(expected) => presented
            .as_bytes()
            .ct_eq(expected.expose().as_bytes())
            .into(),
        None => false,
    };
    if matches {
        Ok(scim.principal_id_attribute)
    } else {
        Err(ScimError::new(
            401,
            None,
            "SCIM needs `Authorization: Bearer <SCIM token>` ([identity.scim] token_env)",
        ))
    }
}

/// Runs `handler` for an authorised caller; every error answered in the SCIM shape.
async fn guarded<F, Fut>(state: AppState, headers: HeaderMap, handler: F) -> Response
where
    F: FnOnce(AppState, IdAttribute) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ScimError>>,
{
    match authorize(&state, &headers) {
        Ok(id_attribute) => handler(state, id_attribute)
            .await
            .unwrap_or_else(|e| error_response(&e)),
        Err(error) => {
            if error.status == 401 {
                record_failed_authentication(&state, &SCIM_API).await;
            }
            error_response(&error)
        }
    }
}

/// A wrong SCIM token is recorded like a wrong admin token, within the same budget.
const SCIM_API: AuthSurface = AuthSurface {
    action: "scim_auth_failed",
    target: SCIM_ACTOR,
    error_class: "invalid_scim_token",
};

// ---------------------------------------------------------------------------------------------
// Discovery

async fn service_provider_config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    guarded(state, headers, |_, _| async move {
        Ok(scim_json(
            StatusCode::OK,
            &schema::service_provider_config(&base, clearance_scim::list::MAX_PAGE),
        ))
    })
    .await
}

/// The discovery documents of one endpoint (`/ResourceTypes`, `/Schemas`), built for a base URL.
type Documents = fn(&str) -> Vec<Value>;

/// All of an endpoint's discovery documents, as a ListResponse.
async fn discovery_list(state: AppState, headers: HeaderMap, documents: Documents) -> Response {
    let base = base_url(&headers);
    guarded(state, headers, |_, _| async move {
        let all = documents(&base);
        Ok(scim_json(StatusCode::OK, &list_response(all.len(), 1, all)))
    })
    .await
}

/// One discovery document by its `id` (any case: `User`, a schema URN); `what` names the kind
/// in the 404.
async fn discovery_item(
    state: AppState,
    headers: HeaderMap,
    documents: Documents,
    what: &'static str,
    id: String,
) -> Response {
    let base = base_url(&headers);
    guarded(state, headers, |_, _| async move {
        documents(&base)
            .into_iter()
            .find(|doc| {
                doc["id"]
                    .as_str()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&id))
            })
            .map(|doc| scim_json(StatusCode::OK, &doc))
            .ok_or_else(|| ScimError::not_found(format!("no {what} `{id}`")))
    })
    .await
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    discovery_list(state, headers, schema::resource_types).await
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    discovery_item(state, headers, schema::resource_types, "resource type", id).await
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    discovery_list(state, headers, schema::schemas).await
}

async fn schema_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    discovery_item(state, headers, schema::schemas, "schema", id).await
}

async fn unknown(State(state): State<AppState>, headers: HeaderMap, uri: http::Uri) -> Response {
    guarded(state, headers, |_, _| async move {
        Err::<Response, _>(ScimError::not_found(format!(
            "no SCIM endpoint {}; this server has /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas",
            uri.path()
        )))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The resources as loaded from one snapshot

/// A stored resource with its body parsed.
#[derive(Clone)]
struct Loaded {
    row: ScimRow,
    body: Map<String, Value>,
}

impl Loaded {
    fn meta(&self) -> Meta {
        Meta {
            created: self.row.created,
            last_modified: self.row.last_modified,
            version: self.row.version,
        }
    }
}

/// Every resource of one snapshot, by kind, in the store's order (by creation).
#[derive(Clone)]
struct Model {
    version: i64,
    users: Vec<Loaded>,
    groups: Vec<Loaded>,
}

impl Model {
    fn from_snapshot(snapshot: ScimSnapshot) -> Result<Model, ScimError> {
        let mut model = Model {
            version: snapshot.version,
            users: Vec::new(),
            groups: Vec::new(),
        };
        for row in snapshot.resources {
            let body = match serde_json::from_str::<Value>(&row.body) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(internal(format!(
                        "the stored SCIM {} {} is not a JSON object",
                        row.kind, row.id
                    )));
                }
            };
            let loaded = Loaded { row, body };
            match loaded.row.kind.as_str() {
                "User" => model.users.push(loaded),
                _ => model.groups.push(loaded),
            }
        }
        Ok(model)
    }

    fn of(&self, kind: ResourceKind) -> &Vec<Loaded> {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    fn of_mut(&mut self, kind: ResourceKind) -> &mut Vec<Loaded> {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
        }
    }

    fn find(&self, kind: ResourceKind, id: &str) -> Option<&Loaded> {
        self.of(kind).iter().find(|r| r.row.id == id)
    }

    /// `(group id, displayName)` of every group with `user` among its members.
    fn groups_of(&self, user: &str) -> Vec<(String, String)> {
        self.groups
            .iter()
            .filter_map(|g| {
                let group = Group::read(&g.body).ok()?;
                group
                    .members
                    .iter()
                    .any(|m| m == user)
                    .then(|| (g.row.id.clone(), group.display_name))
            })
            .collect()
    }

    fn rendered(&self, kind: ResourceKind, loaded: &Loaded, base: &str) -> Value {
        let groups = (kind == ResourceKind::User).then(|| self.groups_of(&loaded.row.id));
        render(
            kind,
            &loaded.row.id,
            &loaded.body,
            &loaded.meta(),
            base,
            groups.as_deref(),
        )
    }

    /// The principal each user is, from this model (a user whose facts cannot be read is an
    /// error naming the attribute).
    fn principal_of(
        &self,
        user: &Loaded,
        id_attribute: IdAttribute,
        now: DateTime<Utc>,
    ) -> Result<Principal, ScimError> {
        let read = User::read(&user.body)?;
        let roles: Vec<String> = self
            .groups_of(&user.row.id)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        to_principal(&read, &roles, id_attribute, now)
    }
}

async fn load(store: &dyn Store) -> Result<Model, ScimError> {
    Model::from_snapshot(store.scim_snapshot().await.map_err(internal)?)
}

// ---------------------------------------------------------------------------------------------
// Reads

async fn list(
    state: AppState,
    headers: HeaderMap,
    kind: ResourceKind,
    query: Option<String>,
) -> Response {
    let base = base_url(&headers);
    guarded(state, headers, |state, _| async move {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let query = ListQuery::parse(&params, kind)?;
        let model = load(state.store.as_ref()).await?;
        let all: Vec<Value> = model
            .of(kind)
            .iter()
            .map(|r| model.rendered(kind, r, &base))
            .collect();
        Ok(scim_json(StatusCode::OK, &query.respond(all)))
    })
    .await
}

async fn get_one(
    state: AppState,
    headers: HeaderMap,
    kind: ResourceKind,
    id: String,
    query: Option<String>,
) -> Response {
    let base = base_url(&headers);
    guarded(state, headers, |state, _| async move {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let projection = Projection::parse(get("attributes"), get("excludedAttributes"));
        let model = load(state.store.as_ref()).await?;
        let loaded = model
            .find(kind, &id)
            .ok_or_else(|| ScimError::not_found(format!("no {} `{id}`", kind.as_str())))?;
        let body = projection.apply(model.rendered(kind, loaded, &base));
        Ok(with_etag(scim_json(StatusCode::OK, &body), &loaded.meta()))
    })
    .await
}

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    list(state, headers, ResourceKind::User, query).await
}

async fn list_groups(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    list(state, headers, ResourceKind::Group, query).await
}

async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    get_one(state, headers, ResourceKind::User, id, query).await
}

async fn get_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    get_one(state, headers, ResourceKind::Group, id, query).await
}

// ---------------------------------------------------------------------------------------------
// Writes

/// A change a client asked for.
#[derive(Clone)]
enum Write {
    Create(Value),
    Replace(String, Value),
    Patch(String, Value),
    Delete(String),
}

impl Write {
    fn verb(&self) -> &'static str {
        match self {
            Write::Create(_) => "create",
            Write::Replace(..) => "replace",
            Write::Patch(..) => "patch",
            Write::Delete(_) => "delete",
        }
    }

    fn target(&self) -> &str {
        match self {
            Write::Create(_) => "new",
            Write::Replace(id, _) | Write::Patch(id, _) | Write::Delete(id) => id,
        }
    }
}

/// What a write does, computed from one snapshot.
struct Plan {
    commit: ScimCommit,
    /// The resource answered (`None`: deleted).
    answer: Option<(ResourceKind, String)>,
    status: StatusCode,
    /// What the audit record keeps.
    resource: Value,
    principals: Vec<Value>,
    /// The model after the change (to render the answer from).
    after: Model,
}

fn name_key(
    kind: ResourceKind,
    body: &Map<String, Value>,
) -> Result<(String, Option<String>), ScimError> {
    Ok(match kind {
        ResourceKind::User => {
            let user = User::read(body)?;
            (user.user_name.to_lowercase(), user.external_id)
        }
        ResourceKind::Group => {
            let group = Group::read(body)?;
            (group.display_name.to_lowercase(), group.external_id)
        }
    })
}

fn check_if_match(headers: &HeaderMap, loaded: &Loaded) -> Result<(), ScimError> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(tags) if !if_match_allows(tags, loaded.row.version) => Err(ScimError::new(
            412,
            None,
            format!(
                "If-Match {tags} does not match the resource's version {}",
                loaded.meta().etag()
            ),
        )),
        _ => Ok(()),
    }
}

/// Computes a write against `model` (pure but for the clock it is given).
fn plan(
    model: &Model,
    kind: ResourceKind,
    write: &Write,
    headers: &HeaderMap,
    id_attribute: IdAttribute,
    now: DateTime<Utc>,
) -> Result<Plan, ScimError> {
    let mut after = model.clone();
    let existing = |id: &str| {
        model
            .find(kind, id)
            .ok_or_else(|| ScimError::not_found(format!("no {} `{id}`", kind.as_str())))
    };
    // Users whose principal this write may change.
    let mut affected: BTreeSet<String> = BTreeSet::new();
    let mut put_ids: Vec<(ResourceKind, String)> = Vec::new();
    let mut deleted: Vec<(ResourceKind, String)> = Vec::new();
    let (answer_id, version_before, status) = match write {
        Write::Create(body) => {
            let body = normalize(kind, body.clone())?;
            name_key(kind, &body)?;
            let id = uuid::Uuid::now_v7().to_string();
            let row = ScimRow {
                kind: kind.as_str().into(),
                id: id.clone(),
                name_key: String::new(),
                external_id: None,
                body: String::new(),
                version: 1,
                created: now,
                last_modified: now,
            };
            after.of_mut(kind).push(Loaded { row, body });
            put_ids.push((kind, id.clone()));
            (Some(id), None, StatusCode::CREATED)
        }
        Write::Replace(id, body) | Write::Patch(id, body) => {
            let old = existing(id)?;
            check_if_match(headers, old)?;
            let new_body = match write {
                Write::Patch(..) => {
                    let ops = patch::parse_request(body, kind)?;
                    patch::apply(kind, &old.body, &ops)?
                }
                _ => normalize(kind, body.clone())?,
            };
            name_key(kind, &new_body)?;
            let slot = after
                .of_mut(kind)
                .iter_mut()
                .find(|r| r.row.id == *id)
                .expect("found in the model it was cloned from");
            slot.body = new_body;
            slot.row.version += 1;
            slot.row.last_modified = now;
            put_ids.push((kind, id.clone()));
            (Some(id.clone()), Some(old.row.version), StatusCode::OK)
        }
        Write::Delete(id) => {
            let old = existing(id)?;
            check_if_match(headers, old)?;
            after.of_mut(kind).retain(|r| r.row.id != *id);
            deleted.push((kind, id.clone()));
            if kind == ResourceKind::User {
                // A deleted user leaves every group it was in (RFC 7644 §3.6).
                for group in after.groups.iter_mut() {
                    let Some(Value::Array(members)) = group.body.get_mut("members") else {
                        continue;
                    };
                    let before = members.len();
                    members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id.as_str()));
                    if members.len() != before {
                        group.row.version += 1;
                        group.row.last_modified = now;
                        put_ids.push((ResourceKind::Group, group.row.id.clone()));
                    }
                }
            }
            (None, Some(old.row.version), StatusCode::NO_CONTENT)
        }
    };
    let target_id = answer_id
        .clone()
        .unwrap_or_else(|| write.target().to_string());
    match kind {
        ResourceKind::User => {
            affected.insert(target_id.clone());
        }
        ResourceKind::Group => {
            for side in [model, &after] {
                if let Some(g) = side.find(kind, &target_id) {
                    affected.extend(Group::read(&g.body)?.members);
                }
            }
            if let Some(g) = after.find(kind, &target_id) {
                let members = Group::read(&g.body)?.members;
                if let Some(missing) = members
                    .iter()
                    .find(|m| after.find(ResourceKind::User, m).is_none())
                {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        format!(
                            "members: no User `{missing}` (provision users before adding them to groups)"
                        ),
                    ));
                }
            }
        }
    }
    // Names stay unique per kind (userName, displayName; any case).
    for (k, id) in &put_ids {
        let loaded = after
            .find(*k, id)
            .expect("put ids name resources in the model");
        let (key, _) = name_key(*k, &loaded.body)?;
        if after
            .of(*k)
            .iter()
            .any(|r| r.row.id != *id && name_key(*k, &r.body).is_ok_and(|(other, _)| other == key))
        {
            let attr = if *k == ResourceKind::User {
                "userName"
            } else {
                "displayName"
            };
            return Err(ScimError::new(
                409,
                Some(ScimType::Uniqueness),
                format!("another {} already has the {attr} `{key}`", k.as_str()),
            ));
        }
    }
    // The affected users' principals, before and after.
    let mut upsert = Vec::new();
    let mut entries = Vec::new();
    let mut after_ids: BTreeMap<PrincipalId, String> = BTreeMap::new();
    for user in &affected {
        let before = model
            .find(ResourceKind::User, user)
            .and_then(|u| model.principal_of(u, id_attribute, now).ok());
        let now_principal = match after.find(ResourceKind::User, user) {
            Some(u) => Some(after.principal_of(u, id_attribute, now)?),
            None => None,
        };
        if let Some(p) = &now_principal {
            after_ids.insert(p.id.clone(), user.clone());
            upsert.push(p.clone());
        }
        entries.push((user.clone(), before, now_principal));
    }
    // Two users may not be one principal (possible with externalId or employeeNumber ids).
    if id_attribute != IdAttribute::UserName && !after_ids.is_empty() {
        for other in &after.users {
            if affected.contains(&other.row.id) {
                continue;
            }
            if let Ok(p) = after.principal_of(other, id_attribute, now)
                && after_ids.contains_key(&p.id)
            {
                return Err(ScimError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    format!(
                        "another User is already principal `{}` ({} is the principal id)",
                        p.id,
                        id_attribute.name()
                    ),
                ));
            }
        }
    }
    let delete_principals: Vec<PrincipalId> = entries
        .iter()
        .filter_map(|(_, before, _)| before.as_ref().map(|b| b.id.clone()))
        .filter(|id| !after_ids.contains_key(id))
        .collect();
    let principals: Vec<Value> = entries
        .iter()
        .flat_map(|(user, before, now_p)| {
            let mut out = Vec::new();
            // A principal id that changed shows as its old id removed and its new id set.
            match (before, now_p) {
                (Some(b), Some(a)) if b.id == a.id => {
                    out.push(json!({ "user": user, "id": a.id, "before": facts_of(b), "after": facts_of(a) }))
                }
                (b, a) => {
                    if let Some(b) = b {
                        out.push(json!({ "user": user, "id": b.id, "before": facts_of(b), "after": Value::Null }));
                    }
                    if let Some(a) = a {
                        out.push(json!({ "user": user, "id": a.id, "before": Value::Null, "after": facts_of(a) }));
                    }
                }
            }
            out
        })
        .collect();
    let put: Vec<ScimRow> = put_ids
        .iter()
        .map(|(k, id)| {
            let loaded = after
                .find(*k, id)
                .expect("put ids name resources in the model");
            let (key, external_id) = name_key(*k, &loaded.body)?;
            Ok(ScimRow {
                name_key: key,
                external_id,
                body: Value::Object(loaded.body.clone()).to_string(),
                ..loaded.row.clone()
            })
        })
        .collect::<Result<_, ScimError>>()?;
    let version_after = answer_id
        .as_ref()
        .and_then(|id| after.find(kind, id))
        .map(|l| l.row.version);
    let name = answer_id
        .as_ref()
        .and_then(|id| after.find(kind, id))
        .or_else(|| model.find(kind, &target_id))
        .and_then(|l| name_key(kind, &l.body).ok())
        .map(|(n, _)| n);
    Ok(Plan {
        commit: ScimCommit {
            expected_version: model.version,
            put,
            delete: deleted
                .iter()
                .map(|(k, id)| (k.as_str().to_string(), id.clone()))
                .collect(),
            upsert_principals: upsert,
            delete_principals,
        },
        answer: answer_id.map(|id| (kind, id)),
        status,
        resource: json!({
            "type": kind.as_str(), "id": target_id, "name": name,
            "version": { "before": version_before, "after": version_after },
        }),
        principals,
        after,
    })
}

/// A principal's facts as the record keeps them (what directives read, and `active`).
fn facts_of(p: &Principal) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// Stores a write (computing it again when another SCIM write landed first), reloads this
/// gateway's registry, records it durably, then answers. Runs in a task of its own, so a
/// client hanging up cannot separate the change from its record.
async fn write(state: AppState, headers: HeaderMap, kind: ResourceKind, write: Write) -> Response {
    let base = base_url(&headers);
    guarded(state, headers.clone(), |state, id_attribute| async move {
        let started = std::time::Instant::now();
        let mut slot = state.audit.reserve().await.map_err(|unavailable| {
            state.metrics.audit_overloaded.inc();
            ScimError::new(503, None, format!("{unavailable}; nothing was changed"))
        })?;
        let task = tokio::spawn(async move {
            let outcome = apply_write(&state, &headers, kind, &write, id_attribute).await;
            let action = format!("scim_{}_{}", kind.as_str().to_ascii_lowercase(), write.verb());
            let records = match &outcome {
                Ok(plan) => change_records(&action, plan, started),
                Err(error) => vec![refusal_record(&action, write.target(), error, started)],
            };
            let max_wait = slot.max_wait();
            let mut last = None;
            for record in records {
                last = Some(slot.submit_durable(record));
            }
            drop(slot);
            if let Some(durable) = last
                && let Err(unavailable) = durable.wait(max_wait).await
            {
                return Err(ScimError::new(
                    503,
                    None,
                    format!(
                        "{unavailable}: the change was made, but its audit record is not durable yet; it is kept and written when the store recovers"
                    ),
                ));
            }
            let plan = outcome?;
            Ok(match &plan.answer {
                None => StatusCode::NO_CONTENT.into_response(),
                Some((kind, id)) => {
                    let loaded = plan.after.find(*kind, id).expect("the answered resource exists");
                    let body = plan.after.rendered(*kind, loaded, &base);
                    let mut response = with_etag(scim_json(plan.status, &body), &loaded.meta());
                    if plan.status == StatusCode::CREATED
                        && let Some(location) = body["meta"]["location"].as_str()
                        && let Ok(value) = HeaderValue::from_str(location)
                    {
                        response.headers_mut().insert(header::LOCATION, value);
                    }
                    response
                }
            })
        });
        task.await.map_err(internal)?
    })
    .await
}

async fn apply_write(
    state: &AppState,
    headers: &HeaderMap,
    kind: ResourceKind,
    write: &Write,
    id_attribute: IdAttribute,
) -> Result<Plan, ScimError> {
    for _ in 0..MAX_ATTEMPTS {
        let model = load(state.store.as_ref()).await?;
        let now = Utc::now();
        let mut plan = plan(&model, kind, write, headers, id_attribute, now)?;
        // Provisioned facts never take effect unscreened.
        let lists = state
            .screening
            .current(state.store.as_ref())
            .await
            .map_err(internal)?;
        crate::screening::screen_before_storing(
            state.store.as_ref(),
            lists.as_deref(),
            &mut plan.commit.upsert_principals,
            now,
        )
        .await
        .map_err(internal)?;
        match state.store.scim_commit(&plan.commit).await {
            Ok(_) => {
                // The next request must see the change (a deactivated user refused at once),
                // not the next poll's.
                if let Err(error) = state.registry.refresh(state.store.as_ref()).await {
                    tracing::warn!(%error, "registry reload after a SCIM change failed; the next poll retries");
                }
                return Ok(plan);
            }
            Err(ScimCommitError::Conflict) => {
                tokio::time::sleep(std::time::Duration::from_millis(rand_ms())).await;
            }
            Err(ScimCommitError::Uniqueness { kind, name_key }) => {
                return Err(ScimError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    format!("another {kind} already has the name `{name_key}`"),
                ));
            }
            Err(ScimCommitError::Store(error)) => return Err(internal(error)),
        }
    }
    Err(ScimError::new(
        503,
        None,
        "other SCIM changes kept landing first; nothing was changed, try again",
    ))
}

/// A few milliseconds, different per process and call, so writers that collided spread out.
fn rand_ms() -> u64 {
    rand::random_range(1..=16)
}

/// The records of one change: the resource and every affected principal's facts before and
/// after, in as many records as it takes to keep each within the record size cap.
fn change_records(
    action: &str,
    plan: &Plan,
    started: std::time::Instant,
) -> Vec<clearance_core::audit::AuditRecord> {
    let parts = parts_within(
        &plan.principals,
        CHANGE_DETAILS_BUDGET,
        PRINCIPALS_PER_RECORD,
    );
    let total = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut details = json!({ "resource": plan.resource, "principals": part });
            if total > 1 {
                details["part"] = json!({ "index": i + 1, "of": total });
            }
            record(
                action,
                &plan.resource["id"],
                plan.status,
                None,
                Some(details),
                started,
            )
        })
        .collect()
}

fn refusal_record(
    action: &str,
    target: &str,
    error: &ScimError,
    started: std::time::Instant,
) -> clearance_core::audit::AuditRecord {
    let class = error.scim_type.map_or("scim_error", |t| t.as_str());
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    record(
        action,
        &Value::from(target),
        status,
        Some(class),
        None,
        started,
    )
}

fn record(
    action: &str,
    target: &Value,
    status: StatusCode,
    error_class: Option<&str>,
    details: Option<Value>,
    started: std::time::Instant,
) -> clearance_core::audit::AuditRecord {
    let action = AdminAction {
        action: action.to_string(),
        target: target.as_str().unwrap_or("").to_string(),
        reason: None,
        actor: SCIM_ACTOR.to_string(),
        details,
    };
    crate::admin::admin_record(action, status, error_class, started)
}

async fn body_json(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| {
        ScimError::bad(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
    })
}

/// A write whose body must be JSON: a body that is not is refused as the guard refuses any
/// other error (authenticated first, so a bad token is still a 401, not a 400).
async fn write_body(
    state: AppState,
    headers: HeaderMap,
    kind: ResourceKind,
    body: &Bytes,
    make: impl FnOnce(Value) -> Write,
) -> Response {
    match body_json(body).await {
        Ok(body) => write(state, headers, kind, make(body)).await,
        Err(e) => guarded(state, headers, |_, _| async move { Err::<Response, _>(e) }).await,
    }
}

macro_rules! write_handlers {
    ($kind:expr, $create:ident, $replace:ident, $patch:ident, $delete:ident) => {
        async fn $create(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            write_body(state, headers, $kind, &body, Write::Create).await
        }

        async fn $replace(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
            body: Bytes,
        ) -> Response {
            write_body(state, headers, $kind, &body, |b| Write::Replace(id, b)).await
        }

        async fn $patch(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
            body: Bytes,
        ) -> Response {
            write_body(state, headers, $kind, &body, |b| Write::Patch(id, b)).await
        }

        async fn $delete(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
        ) -> Response {
            write(state, headers, $kind, Write::Delete(id)).await
        }
    };
}

write_handlers!(
    ResourceKind::User,
    create_user,
    replace_user,
    patch_user,
    delete_user
);
write_handlers!(
    ResourceKind::Group,
    create_group,
    replace_group,
    patch_group,
    delete_group
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn loaded(kind: ResourceKind, id: &str, body: Value) -> Loaded {
        let now = Utc::now();
        Loaded {
            row: ScimRow {
                kind: kind.as_str().into(),
                id: id.into(),
                name_key: String::new(),
                external_id: None,
                body: String::new(),
                version: 1,
                created: now,
                last_modified: now,
            },
            body: normalize(kind, body).unwrap(),
        }
    }

    fn model() -> Model {
        Model {
            version: 4,
            users: vec![
                loaded(
                    ResourceKind::User,
                    "u1",
                    json!({"userName": "ana", "externalId": "e1"}),
                ),
                loaded(
                    ResourceKind::User,
                    "u2",
                    json!({"userName": "bo", "externalId": "e2"}),
                ),
            ],
            groups: vec![loaded(
                ResourceKind::Group,
                "g1",
                json!({"displayName": "eng", "members": [{"value": "u1"}, {"value": "u2"}]}),
            )],
        }
    }

    #[test]
    fn deleting_a_user_takes_it_out_of_its_groups_and_deletes_its_principal() {
        let plan = plan(
            &model(),
            ResourceKind::User,
            &Write::Delete("u1".into()),
            &HeaderMap::new(),
            IdAttribute::UserName,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(plan.commit.expected_version, 4);
        assert_eq!(
            plan.commit.delete,
            vec![("User".to_string(), "u1".to_string())]
        );
        assert_eq!(
            plan.commit.delete_principals,
            vec!["ana".parse::<PrincipalId>().unwrap()]
        );
        let group = &plan.commit.put[0];
        assert_eq!((group.id.as_str(), group.version), ("g1", 2));
        assert!(!group.body.contains("u1"), "{}", group.body);
    }

    #[test]
    fn renaming_a_group_changes_every_members_roles() {
        let patch =
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "research"}]});
        let plan = plan(
            &model(),
            ResourceKind::Group,
            &Write::Patch("g1".into(), patch),
            &HeaderMap::new(),
            IdAttribute::UserName,
            Utc::now(),
        )
        .unwrap();
        let roles: Vec<_> = plan
            .commit
            .upsert_principals
            .iter()
            .map(|p| {
                (
                    p.id.to_string(),
                    p.roles.iter().cloned().collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("ana".into(), vec!["research".to_string()]),
                ("bo".into(), vec!["research".to_string()])
            ]
        );
        assert_eq!(plan.principals[0]["before"]["roles"], json!(["eng"]));
    }

    #[test]
    fn a_changed_id_attribute_moves_the_principal_and_a_taken_one_is_refused() {
        let patch = json!({"Operations": [{"op": "replace", "path": "externalId", "value": "e9"}]});
        let moved = plan(
            &model(),
            ResourceKind::User,
            &Write::Patch("u1".into(), patch),
            &HeaderMap::new(),
            IdAttribute::ExternalId,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            moved.commit.delete_principals,
            vec!["e1".parse::<PrincipalId>().unwrap()]
        );
        assert_eq!(moved.commit.upsert_principals[0].id.as_str(), "e9");
        let taken = json!({"Operations": [{"op": "replace", "path": "externalId", "value": "e2"}]});
        let error = plan(
            &model(),
            ResourceKind::User,
            &Write::Patch("u1".into(), taken),
            &HeaderMap::new(),
            IdAttribute::ExternalId,
            Utc::now(),
        )
        .err()
        .unwrap();
        assert_eq!(
            (error.status, error.scim_type),
            (409, Some(ScimType::Uniqueness))
        );
    }

    #[test]
    fn errors_are_scim_json_with_a_bearer_challenge_on_401() {
        let response = error_response(&ScimError::new(401, None, "no"));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
