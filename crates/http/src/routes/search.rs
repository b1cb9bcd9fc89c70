//! Search: messages (full text and filters) and channels by name (the quick switcher). Users
//! are searched with `GET /api/v1/users?q=`.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::dto::{
    ChannelDto, ChannelMatch, ChannelMatches, ChannelSearchParams, MessageDto, SearchChannel,
    SearchQueryParams, SearchResult, SearchResults, SnippetSegment,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};

/// Search the messages of the channels one is a member of (direct conversations included).
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchQueryParams),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn messages(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(p): ApiQuery<SearchQueryParams>,
) -> ApiResult<Json<SearchResults>> {
    let page = state
        .search
        .messages(
            &authed.actor(),
            &p.q,
            p.limit.unwrap_or(20),
            p.offset.unwrap_or(0),
        )
        .await?;
    Ok(Json(SearchResults {
        results: page
            .hits
            .iter()
            .map(|h| SearchResult {
                message: MessageDto::new(&h.message),
                channel: SearchChannel::new(&h.channel),
                snippet: h
                    .snippet
                    .iter()
                    .map(|s| SnippetSegment {
                        text: s.text.clone(),
                        hit: s.hit,
                    })
                    .collect(),
            })
            .collect(),
        next_offset: page.next_offset,
    }))
}

/// Channels by name, for the quick switcher: those one is a member of, then public ones.
#[utoipa::path(get, path = "/api/v1/search/channels", tag = "search", params(ChannelSearchParams),
    responses((status = 200, body = ChannelMatches), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn channels(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(p): ApiQuery<ChannelSearchParams>,
) -> ApiResult<Json<ChannelMatches>> {
    let found = state
        .search
        .channels(&authed.actor(), &p.q, p.limit.unwrap_or(20))
        .await?;
    Ok(Json(ChannelMatches {
        channels: found
            .iter()
            .map(|(c, member)| ChannelMatch {
                channel: ChannelDto::new(c),
                member: *member,
            })
            .collect(),
    }))
}
