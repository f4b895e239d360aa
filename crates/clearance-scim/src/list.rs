//! Listing (RFC 7644 §3.4.2): `filter`, then paging by `startIndex` (1-based) and `count`,
//! then `attributes` / `excludedAttributes`, answered as a ListResponse.

use serde_json::{Value, json};

use crate::error::{ScimError, ScimType};
use crate::filter::Filter;
use crate::schema::{LIST_RESPONSE, ResourceKind};

/// The most resources one page holds, whatever `count` asks for (`filter.maxResults`).
pub const MAX_PAGE: usize = 200;

/// What a list request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

/// Which attributes an answer holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

fn names(text: Option<&str>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        Projection {
            attributes: names(attributes),
            excluded: names(excluded),
        }
    }

    /// Drops what the request did not ask for; `id`, `schemas` and `meta` always stay.
    pub fn apply(&self, mut resource: Value) -> Value {
        if let Value::Object(map) = &mut resource {
            let always = |k: &str| matches!(k, "id" | "schemas" | "meta");
            if !self.attributes.is_empty() {
                map.retain(|k, _| {
                    always(k)
                        || self.attributes.iter().any(|a| {
                            let a = a.as_str();
                            a == k.to_ascii_lowercase()
                                || a.starts_with(&format!("{}.", k.to_ascii_lowercase()))
                                || a.starts_with(&format!("{}:", k.to_ascii_lowercase()))
                        })
                });
            }
            map.retain(|k, _| always(k) || !self.excluded.contains(&k.to_ascii_lowercase()));
        }
        resource
    }
}

impl ListQuery {
    /// Reads the query parameters (`filter`, `startIndex`, `count`, `attributes`,
    /// `excludedAttributes`; names in any case).
    pub fn parse(params: &[(String, String)], kind: ResourceKind) -> Result<ListQuery, ScimError> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str, default: i64| -> Result<i64, ScimError> {
            match get(name) {
                None => Ok(default),
                Some(text) => text.trim().parse::<i64>().map_err(|_| {
                    ScimError::bad(
                        ScimType::InvalidValue,
                        format!("{name}: `{}` is not an integer", text.escape_debug()),
                    )
                }),
            }
        };
        let filter = get("filter").map(|f| Filter::parse(f, kind)).transpose()?;
        let start_index = number("startIndex", 1)?.max(1) as usize;
        let count = number("count", MAX_PAGE as i64)?.clamp(0, MAX_PAGE as i64) as usize;
        Ok(ListQuery {
            filter,
            start_index,
            count,
            projection: Projection::parse(get("attributes"), get("excludedAttributes")),
        })
    }

    /// Filters `resources` (already in a stable order), takes the page and answers.
    pub fn respond(&self, resources: Vec<Value>) -> Value {
        let matching: Vec<Value> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| self.projection.apply(r))
            .collect();
        list_response(total, self.start_index, page)
    }
}

/// A ListResponse message.
pub fn list_response(total: usize, start_index: usize, page: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
        let params: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListQuery::parse(&params, ResourceKind::User)
    }

    #[test]
    fn pages_are_one_based_and_report_the_total() {
        let users: Vec<Value> = (1..=5)
            .map(|i| json!({"id": i.to_string(), "userName": format!("u{i}")}))
            .collect();
        let page = query(&[("startIndex", "2"), ("count", "2")])
            .unwrap()
            .respond(users.clone());
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["itemsPerPage"], 2);
        assert_eq!(page["Resources"][0]["id"], "2");
        let zero = query(&[("startIndex", "0"), ("count", "-3")])
            .unwrap()
            .respond(users);
        assert_eq!(zero["startIndex"], 1);
        assert_eq!(zero["itemsPerPage"], 0);
        assert_eq!(zero["totalResults"], 5);
    }

    #[test]
    fn excluded_attributes_drop_members_but_never_the_id() {
        let group = json!({"id": "g", "displayName": "x", "members": [{"value": "u"}]});
        let shown = Projection::parse(None, Some("members,id")).apply(group);
        assert!(shown.get("members").is_none());
        assert_eq!(shown["id"], "g");
    }

    #[test]
    fn a_count_that_is_not_a_number_is_invalid_value() {
        let error = query(&[("count", "ten")]).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
    }
}
