import ChangeoverCore

/// The page `GET /` serves: the fleet at a glance (the next 14 days' windows, what runs, the
/// campaigns, the last ended changeovers), refreshed by polling the token-guarded JSON
/// endpoints. Its HTML, script and style are compiled in: no CDN, no build step, works offline.
/// The three files hold no data, so they are served without the token; the script asks for
/// the token once, keeps it in `sessionStorage` and sends it as `Authorization: Bearer` (never
/// in a URL or a cookie). No inline script or style: the Content-Security-Policy forbids them.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>changeover · fleet</title>
        <link rel="stylesheet" href="/app.css">
        <script src="/app.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to the fleet</a>
        <header>
          <h1>changeover</h1>
          <p id="daemon" aria-live="polite"></p>
          <button type="button" id="forget" hidden>Forget the token</button>
        </header>
        <main id="main" tabindex="-1">
          <section id="login" aria-labelledby="login-title">
            <h2 id="login-title">The daemon's token</h2>
            <form id="token-form">
              <label for="token">Bearer token (the daemon's <code>daemon.tokenEnv</code> variable)</label>
              <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
              <button type="submit" id="token-submit">Show the fleet</button>
            </form>
            <p>The token stays in this tab (session storage) and goes to the daemon only in the Authorization header.</p>
            <p id="message" role="alert"></p>
          </section>
          <div id="fleet" hidden>
            <section aria-labelledby="timeline-title">
              <h2 id="timeline-title">The next 14 days</h2>
              <p class="legend" aria-hidden="true">
                <span class="key key-window"></span> window open
                <span class="key key-freeze"></span> freeze
                <span class="mark mark-provision">▲</span> provisioning starts
                <span class="mark mark-switch">◆</span> switchover
              </p>
              <div class="scroll"><table id="timeline" class="timeline"></table></div>
              <p id="timeline-count" aria-live="polite"></p>
              <button type="button" id="timeline-more" hidden>Show more databases</button>
            </section>
            <section aria-labelledby="running-title">
              <h2 id="running-title">Under way</h2>
              <div class="scroll" id="running"></div>
            </section>
            <section aria-labelledby="campaigns-title">
              <h2 id="campaigns-title">Campaigns</h2>
              <div id="campaigns"></div>
            </section>
            <section aria-labelledby="ended-title">
              <h2 id="ended-title">Ended (the last 50)</h2>
              <div class="scroll" id="ended"></div>
              <section id="audit" hidden aria-labelledby="audit-title" tabindex="-1">
                <h3 id="audit-title">Audit records</h3>
                <button type="button" id="audit-close">Close</button>
                <pre id="audit-text"></pre>
              </section>
            </section>
          </div>
        </main>
        </body>
        </html>

        """

    /// The steps a changeover goes through when all is well, in order: the script draws them.
    static var stepsJSON: String {
        let steps: [ChangeoverStep] = [
            .preflight, .provision, .catchUp, .awaitWindow, .fence, .finalSync, .promote, .repoint, .verify, .settle,
        ]
        return "[" + steps.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"
    }
}
