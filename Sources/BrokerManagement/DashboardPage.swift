// The live dashboard served at / and /dashboard by the telemetry endpoint: a page with its
// own CSS and JavaScript (Dashboard/, embedded in the binary at build time; no external CDN
// or fonts, works offline) that polls the management API every 2 s and draws its own charts
// on <canvas>:
// - message rates (publish, deliver, ack) over the last 5 minutes: deltas of
//   /api/overview's message_stats totals between polls (message_stats.*_details.rate when
//   the totals are missing);
// - per-partition load from /api/partitions: messages, msg/s and CPU % per worker process,
//   the rates computed between polls, so a hot partition stands out.
// Rates divide by the time between the router's timestamps on /api/partitions when there
// are some, so they hold even when the browser's clock is not real time (a headless browser
// with a virtual time budget); else by the browser's clock.
// - queues (/api/queues), connections (/api/connections), object totals and /health.
// Credentials come from a small form or the URL fragment (#user=…&password=…) and stay in
// sessionStorage. Every fetch may fail (404 before an endpoint exists, 401, the broker gone):
// the page then shows "—" and keeps polling; it never throws out of a poll.
//
// Stable element ids for tests: #status, #rate-chart and #partition-chart (canvases whose
// data-points attribute counts the live samples drawn), #queue-table and #connections-table
// (tbody rows carry data-queue / data-connection), #partition-table, #totals, #health-list.
enum DashboardPage {
    /// The dashboard's files by the path they are served at.
    static func file(at path: String) -> HTTPReply? {
        let name = path == "/" || path == "/dashboard" ? "dashboard.html" : String(path.dropFirst())
        guard let body = DashboardFiles.files[name] else { return nil }
        let type = name.hasSuffix(".html") ? "text/html" : name.hasSuffix(".css") ? "text/css" : "text/javascript"
        return HTTPReply(status: .ok, contentType: type + "; charset=utf-8", body: body)
    }
}
