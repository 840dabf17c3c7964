//! Who is calling: in noauth mode the context Designate builds from headers (`X-Auth-Project-ID`,
//! `X-Auth-User-ID`, `X-Roles`); in keystone mode the project, user and roles of the validated
//! `X-Auth-Token` (those headers are then ignored). Then the admin-only switches (all projects, sudo)
//! and the project scope a caller may see.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use nsplane_schema::{ProjectId, RequestId};

use crate::error::ApiError;
use crate::keystone::TokenError;
use crate::AppState;

/// The caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) project_id: ProjectId,
    pub(crate) user_id: String,
    pub(crate) roles: Vec<String>,
    pub(crate) request_id: RequestId,
    /// Admin asked to see every project (`X-Auth-All-Projects: true`).
    pub(crate) all_projects: bool,
    /// Admin asked to delete regardless of shares (`X-Designate-Hard-Delete: true`).
    pub(crate) hard_delete: bool,
    /// Admin asked to change managed record sets (`X-Designate-Edit-Managed-Records: true`).
    pub(crate) edit_managed: bool,
}

impl Caller {
    pub(crate) fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    /// Designate's default policies: writes need `member` (or `admin`); `reader` may only read.
    pub(crate) fn require_writer(&self) -> Result<(), ApiError> {
        if self.is_admin() || self.roles.iter().any(|r| r == "member") {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Operator resources (TLDs, blacklists, other projects' quotas, service statuses) need `admin`.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// The caller as the write side knows it: who, why, when (the commit's metadata), whether it is an
    /// admin, and the project it may act on.
    pub(crate) fn actor(&self) -> nsplane_command::Actor {
        nsplane_command::Actor {
            metadata: nsplane_schema::Metadata {
                project_id: self.project_id.clone(),
                user_id: self.user_id.clone(),
                roles: self.roles.clone(),
                request_id: self.request_id.clone(),
                source_role: "api".to_owned(),
                command: String::new(),
                time: chrono::Utc::now(),
                fence: None,
            },
            admin: self.is_admin(),
            scope: self.scope().cloned(),
        }
    }

    /// The project whose resources the caller may see: `None` means every project.
    pub(crate) fn scope(&self) -> Option<&ProjectId> {
        if self.all_projects {
            None
        } else {
            Some(&self.project_id)
        }
    }

    pub(crate) fn may_see(&self, project: &str) -> bool {
        self.all_projects || self.project_id.0 == project
    }

    /// The caller owns the zone, has it shared with its project, or sees every project.
    pub(crate) fn may_see_zone(&self, zone: &nsplane_projection::read::ZoneRow) -> bool {
        self.may_see(&zone.project_id) || zone.shared_with.contains(&self.project_id.0)
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn truthy(value: Option<&str>) -> bool {
    matches!(
        value.map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "1" | "yes")
    )
}

/// Project, user and roles: from the token (keystone) or from the headers (noauth).
async fn identify(parts: &Parts, state: &AppState) -> Result<(ProjectId, String, Vec<String>), ApiError> {
    let Some(keystone) = &state.keystone else {
        let project_id = ProjectId(
            header(parts, "x-auth-project-id")
                .unwrap_or("noauth-project")
                .to_owned(),
        );
        let user_id = header(parts, "x-auth-user-id").unwrap_or("noauth-user").to_owned();
        let roles: Vec<String> = header(parts, "x-roles")
            .unwrap_or("admin")
            .split(',')
            .map(|r| r.trim().to_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        return Ok((project_id, user_id, roles));
    };
    let unauthorized = || ApiError::Unauthorized {
        kind: "unauthorized",
        message: "The request you have made requires authentication.".into(),
        keystone_uri: Some(keystone.public_uri().to_owned()),
    };
    let token = header(parts, "x-auth-token").ok_or_else(unauthorized)?;
    let identity = keystone.validate(token).await.map_err(|error| match error {
        TokenError::Invalid => unauthorized(),
        TokenError::Unavailable(reason) => {
            tracing::warn!(%reason, "cannot validate a token");
            ApiError::Unavailable("The identity service is unavailable.".into())
        }
    })?;
    let project_id = identity.project_id.ok_or_else(|| ApiError::Unauthorized {
        kind: "missing_project_id",
        message: "A project ID must be specified.".into(),
        keystone_uri: None,
    })?;
    Ok((ProjectId(project_id), identity.user_id, identity.roles))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        let (project_id, user_id, roles) = identify(parts, state).await?;
        let query_all = parts
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .any(|kv| matches!(kv, "all_projects=true" | "all_tenants=true" | "all_projects=1"))
            })
            .unwrap_or(false);
        let wants_all = truthy(header(parts, "x-auth-all-projects")) || query_all;
        let mut caller = Caller {
            project_id,
            user_id,
            roles,
            request_id,
            all_projects: false,
            hard_delete: false,
            edit_managed: false,
        };
        // Designate's admin-only switches; a non-admin asking for one is refused, never ignored.
        for (name, policy) in [
            ("x-designate-edit-managed-records", "edit_managed_records"),
            ("x-designate-hard-delete", "hard_delete"),
        ] {
            if truthy(header(parts, name)) && !caller.is_admin() {
                return Err(ApiError::Forbidden {
                    kind: "forbidden",
                    message: format!("You are not authorized to perform this action: {policy}"),
                });
            }
        }
        caller.hard_delete = truthy(header(parts, "x-designate-hard-delete"));
        caller.edit_managed = truthy(header(parts, "x-designate-edit-managed-records"));
        if wants_all {
            if !caller.is_admin() {
                return Err(ApiError::Forbidden {
                    kind: "forbidden",
                    message: "You are not authorized to perform this action: all_tenants".into(),
                });
            }
            caller.all_projects = true;
        }
        // Impersonation (Designate's use_sudo policy: admin only).
        if let Some(sudo) = header(parts, "x-auth-sudo-project-id").or_else(|| header(parts, "x-auth-sudo-tenant-id")) {
            if !caller.is_admin() {
                return Err(ApiError::Forbidden {
                    kind: "forbidden",
                    message: "You are not authorized to perform this action: use_sudo".into(),
                });
            }
            caller.project_id = ProjectId(sudo.to_owned());
        }
        Ok(caller)
    }
}

fn forbidden() -> ApiError {
    ApiError::Forbidden {
        kind: "forbidden",
        message: "You are not authorized to perform this action".into(),
    }
}
