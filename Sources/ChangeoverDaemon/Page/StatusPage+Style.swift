extension StatusPage {
    /// The page's look: readable at 1280×800 and at phone width; outcomes and marks carry a
    /// shape and words besides their colour; focus is always visible.
    static let style = """
        :root { --ink: #1b1f24; --muted: #59636e; --line: #d0d7de; --bg: #ffffff; --band: #f6f8fa;
          --window: #2f7d4f; --freeze: #8c959f; --provision: #0b5cad; --switch: #a2470a; --bad: #b42318; --focus: #0b5cad; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
        header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4rem 1.2rem; padding: 0.6rem 1rem; border-bottom: 1px solid var(--line); background: var(--band); }
        header h1 { margin: 0; font-size: 1.25rem; }
        header p { margin: 0; color: var(--muted); flex: 1 1 20rem; }
        main { padding: 0 1rem 2rem; max-width: 100rem; }
        h2 { font-size: 1.1rem; margin: 1.4rem 0 0.5rem; }
        h3 { font-size: 1rem; margin: 0.8rem 0 0.3rem; }
        a, button, input { font: inherit; }
        button { padding: 0.35rem 0.8rem; border: 1px solid var(--ink); border-radius: 4px; background: var(--bg); color: var(--ink); cursor: pointer; }
        input[type=password] { padding: 0.35rem 0.5rem; border: 1px solid var(--muted); border-radius: 4px; min-width: 16rem; max-width: 100%; }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 0.5rem; top: 0.5rem; background: var(--bg); padding: 0.3rem; z-index: 2; }
        form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
        form label { flex-basis: 100%; }
        #message { font-weight: 600; color: var(--bad); }
        #message:empty { display: none; }
        .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { font-size: 0.85rem; color: var(--muted); font-weight: 600; }
        .empty { color: var(--muted); }
        .timeline { table-layout: fixed; min-width: 36rem; }
        .timeline thead th:first-child, .timeline .name { width: 11rem; }
        .timeline .name { font-weight: 600; overflow-wrap: anywhere; }
        .engine { font-weight: 400; color: var(--muted); font-size: 0.85rem; }
        .timeline td { padding: 0.25rem 0; }
        .days { position: relative; height: 1.3rem; }
        .day { position: absolute; top: 0; font-weight: 400; white-space: nowrap; border-left: 1px solid var(--line); padding-left: 2px; font-size: 0.75rem; }
        .track { position: relative; height: 1.6rem; background: repeating-linear-gradient(90deg, var(--band) 0, var(--band) calc(100% / 14 - 1px), var(--line) calc(100% / 14 - 1px), var(--line) calc(100% / 14)); border-radius: 3px; }
        .track > span { position: absolute; top: 0.2rem; height: 1.2rem; }
        .window { background: var(--window); border: 1px solid #174d2d; border-radius: 2px; min-width: 3px; }
        .freeze { top: 0 !important; height: 1.6rem !important; background: repeating-linear-gradient(135deg, var(--freeze) 0 3px, transparent 3px 7px); opacity: 0.8; }
        .mark { font-size: 0.95rem; line-height: 1.2rem; transform: translateX(-50%); text-shadow: 0 0 2px #fff; }
        .mark-provision { color: var(--provision); }
        .mark-switch { color: var(--switch); }
        .legend { color: var(--muted); font-size: 0.85rem; display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; align-items: center; }
        .key { display: inline-block; width: 1.6rem; height: 0.8rem; vertical-align: middle; margin-right: 0.25rem; }
        .key-window { background: var(--window); }
        .key-freeze { background: repeating-linear-gradient(135deg, var(--freeze) 0 3px, transparent 3px 7px); border: 1px solid var(--freeze); }
        .steps { list-style: none; display: flex; flex-wrap: wrap; gap: 2px; padding: 0; margin: 0.3rem 0 0; font-size: 0.75rem; }
        .steps li { padding: 0 0.3rem; border: 1px solid var(--line); border-radius: 3px; color: var(--muted); }
        .steps li.past { background: var(--band); }
        .steps li.now { border: 2px solid var(--ink); color: var(--ink); font-weight: 700; }
        .progress { max-width: 28rem; overflow-wrap: anywhere; }
        .progress .bar { display: flex; align-items: center; margin-top: 0.2rem; }
        .progress progress { width: 12rem; max-width: 70%; }
        .progress .trend { margin-top: 0.2rem; }
        .outcome .shape { font-weight: 700; }
        .outcome-done .outcome { color: var(--window); }
        .outcome-failed .outcome { color: var(--bad); font-weight: 600; }
        .outcome-aborted .outcome { color: var(--switch); }
        .campaign { border: 1px solid var(--line); border-radius: 4px; padding: 0 0.8rem 0.6rem; margin-bottom: 0.8rem; }
        #audit { margin-top: 0.8rem; border: 1px solid var(--line); padding: 0 0.8rem 0.8rem; }
        #audit pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8rem; }
        @media (max-width: 640px) {
          body { font-size: 14px; }
          main { padding: 0 0.5rem 1.5rem; }
          .timeline thead th:first-child, .timeline .name { width: 6.5rem; }
          .timeline { min-width: 0; }
          .day { display: none; }
          .day:nth-child(4n+1) { display: block; }
          th, td { padding: 0.25rem 0.3rem; }
          input[type=password] { min-width: 0; width: 100%; }
        }

        """
}
