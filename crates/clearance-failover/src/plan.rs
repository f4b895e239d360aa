//! The order in which the gateway tries the models of a route.
//!
//! Each model on the route, primary first and then the fallbacks in their configured order,
//! is tried `1 + retries` times in a row: **`retries` applies to every model on the route**,
//! not only to the primary, so a fallback that hiccups once gets the same second chance.
//! Only the repeats on one model are retries ([`Candidate::is_retry`]): they spend the
//! route's retry budget and back off; the first attempt on a fallback does neither.
//! A model named twice on a route is tried only where it first appears.
//!
//! What this does not decide: whether a candidate is skipped (its breaker is open, the
//! budget is empty, the caller may not use that model, a failure returned to the caller):
//! the gateway asks the breaker, the budget and the policy book as it walks the plan.

/// A model's failover route, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub primary: String,
    pub fallbacks: Vec<String>,
    /// Same-model retries after a failed attempt, on every model of the route.
    pub retries: u32,
}

/// One attempt the gateway may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub model: &'a str,
    /// 1 for the first attempt on this model, 2 for its first retry, …
    pub attempt: u32,
    /// 0 for the primary, 1 for the first fallback, …
    pub position: usize,
}

impl Candidate<'_> {
    /// A repeat on the same model: spends retry budget and backs off.
    pub fn is_retry(&self) -> bool {
        self.attempt > 1
    }

    pub fn is_fallback(&self) -> bool {
        self.position > 0
    }
}

/// The candidates of `route`, in order. Lazy: a route with a huge `retries` costs nothing
/// until walked.
pub fn plan(route: &Route) -> impl Iterator<Item = Candidate<'_>> + '_ {
    let models = std::iter::once(route.primary.as_str())
        .chain(route.fallbacks.iter().map(String::as_str))
        .enumerate();
    models
        .filter(move |(position, model)| {
            let earlier = std::iter::once(route.primary.as_str())
                .chain(route.fallbacks.iter().map(String::as_str))
                .take(*position);
            !earlier.into_iter().any(|m| m == *model)
        })
        .flat_map(move |(position, model)| {
            (1..=route.retries.saturating_add(1)).map(move |attempt| Candidate {
                model,
                attempt,
                position,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(primary: &str, fallbacks: &[&str], retries: u32) -> Route {
        Route {
            primary: primary.into(),
            fallbacks: fallbacks.iter().map(|s| s.to_string()).collect(),
            retries,
        }
    }

    fn walk(route: &Route) -> Vec<(&str, u32)> {
        plan(route).map(|c| (c.model, c.attempt)).collect()
    }

    #[test]
    fn every_model_is_tried_one_plus_retries_times_primary_first() {
        let r = route("gpt", &["claude", "gemini"], 1);
        assert_eq!(
            walk(&r),
            [
                ("gpt", 1),
                ("gpt", 2),
                ("claude", 1),
                ("claude", 2),
                ("gemini", 1),
                ("gemini", 2)
            ]
        );
    }

    #[test]
    fn no_retries_tries_each_model_once() {
        let r = route("gpt", &["claude"], 0);
        assert_eq!(walk(&r), [("gpt", 1), ("claude", 1)]);
    }

    #[test]
    fn only_repeats_on_one_model_are_retries() {
        let r = route("gpt", &["claude"], 1);
        let flags: Vec<(bool, bool)> = plan(&r).map(|c| (c.is_retry(), c.is_fallback())).collect();
        assert_eq!(
            flags,
            [(false, false), (true, false), (false, true), (true, true)]
        );
    }

    #[test]
    fn a_model_named_twice_is_tried_where_it_first_appears() {
        let r = route("gpt", &["claude", "gpt", "claude", "gemini"], 0);
        assert_eq!(walk(&r), [("gpt", 1), ("claude", 1), ("gemini", 1)]);
        let positions: Vec<usize> = plan(&r).map(|c| c.position).collect();
        assert_eq!(positions, [0, 1, 4]);
    }

    #[test]
    fn huge_retries_are_lazy_and_do_not_overflow() {
        let r = route("gpt", &["claude"], u32::MAX);
        let first: Vec<Candidate<'_>> = plan(&r).take(3).collect();
        assert_eq!(first[2].attempt, 3);
        assert_eq!(plan(&r).nth(1_000_000).map(|c| c.model), Some("gpt"));
    }
}
