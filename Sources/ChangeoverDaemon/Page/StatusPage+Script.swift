extension StatusPage {
    /// The page's behaviour. Everything it shows goes in through `textContent` (never HTML), so
    /// a database name or an error message cannot inject markup.
    static let script = """
        "use strict";
        (function () {
          const KEY = "changeover.token";
          const STEPS = \(stepsJSON);
          const POLL_MS = 1000;
          const TIMELINE_MS = 10000;
          // Timeline rows asked for at a time (`?rows=N` in the page's address sets it).
          const PAGE = (() => {
            const asked = Number(new URLSearchParams(location.search).get("rows"));
            return Number.isInteger(asked) && asked > 0 && asked <= 2000 ? asked : 200;
          })();
          const LAG_SAMPLES = 8;
          const $ = (id) => document.getElementById(id);
          let timer = null;
          let timeline = null;
          let timelineAt = 0;
          let reloads = null;
          let timelineRows = PAGE;
          const lags = new Map();

          class Refused extends Error {}

          function el(tag, props, children) {
            const node = document.createElement(tag);
            for (const [key, value] of Object.entries(props || {})) {
              if (value === undefined || value === null) continue;
              if (key === "text") node.textContent = value;
              else if (key === "className") node.className = value;
              else node.setAttribute(key, value);
            }
            for (const child of children || []) if (child) node.appendChild(child);
            return node;
          }
          const text = (value) => document.createTextNode(value);

          function duration(seconds) {
            if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
            seconds = Math.max(0, seconds);
            if (seconds < 1) return Math.round(seconds * 1000) + " ms";
            if (seconds < 90) return seconds.toFixed(seconds < 10 ? 1 : 0) + " s";
            if (seconds < 5400) return Math.round(seconds / 60) + " min";
            if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
            return (seconds / 86400).toFixed(1) + " d";
          }
          function when(iso) {
            if (!iso) return "–";
            return new Date(iso).toLocaleString(undefined, { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
          }

          async function api(path) {
            const token = sessionStorage.getItem(KEY);
            if (!token) throw new Refused();
            const response = await fetch(path, { headers: { Authorization: "Bearer " + token }, cache: "no-store", credentials: "omit" });
            if (response.status === 401) throw new Refused();
            if (!response.ok) throw new Error(path + " answered HTTP " + response.status);
            return response.json();
          }

          function clearData() {
            for (const id of ["timeline", "running", "campaigns", "ended", "audit-text"]) $(id).replaceChildren();
            $("daemon").textContent = "";
            $("audit").hidden = true;
            timeline = null;
            reloads = null;
            lags.clear();
          }

          function signIn(message) {
            sessionStorage.removeItem(KEY);
            if (timer) clearTimeout(timer);
            timer = null;
            clearData();
            $("fleet").hidden = true;
            $("forget").hidden = true;
            $("login").hidden = false;
            $("message").textContent = message || "";
            $("token").value = "";
            $("token").focus();
          }

          async function refresh() {
            timer = null;
            try {
              const status = await api("/status");
              if (!timeline || Date.now() - timelineAt > TIMELINE_MS || reloads !== status.daemon.reloads) {
                timeline = await fetchTimeline(timelineRows);
                timelineAt = Date.now();
                reloads = status.daemon.reloads;
              }
              if (!sessionStorage.getItem(KEY)) return;
              $("login").hidden = true;
              $("fleet").hidden = false;
              $("forget").hidden = false;
              $("message").textContent = "";
              render(status, timeline);
            } catch (error) {
              if (error instanceof Refused) {
                signIn("The daemon refused this token: nothing is shown. Enter the token the daemon reads from its daemon.tokenEnv variable.");
                return;
              }
              $("daemon").textContent = "Cannot reach the daemon (" + error.message + "); trying again.";
            }
            if (sessionStorage.getItem(KEY)) timer = setTimeout(refresh, POLL_MS);
          }

          // The first `count` rows of the timeline, asked for in pages the daemon accepts.
          async function fetchTimeline(count) {
            let data = null;
            while (!data || data.databases.length < Math.min(count, data.total)) {
              const offset = data ? data.databases.length : 0;
              const page = await api("/timeline?offset=" + offset + "&limit=" + Math.min(2000, count - offset));
              if (!data) data = page;
              else { data.databases.push(...page.databases); data.total = page.total; }
              if (!page.databases.length) break;
            }
            return data;
          }

          function render(status, timeline) {
            const d = status.daemon;
            $("daemon").textContent = "Daemon pid " + d.pid + " · " + d.running.length + " of " + d.concurrency + " slots busy · last tick " +
              (d.lastTick ? new Date(d.lastTick).toLocaleTimeString() : "not yet") + (d.lastTickMs !== undefined && d.lastTickMs !== null ? " (" + d.lastTickMs + " ms)" : "") +
              (d.shuttingDown ? " · shutting down" : "");
            renderTimeline(timeline);
            const active = status.changeovers.filter((c) => c.state !== "ended" && c.state !== "scheduled");
            const ended = status.changeovers.filter((c) => c.state === "ended").slice(0, 50);
            renderRunning(active);
            renderCampaigns(status.campaigns);
            renderEnded(ended);
          }

          function renderTimeline(data) {
            const from = Date.parse(data.from);
            const to = Date.parse(data.to);
            const span = to - from;
            const pct = (iso) => Math.min(100, Math.max(0, ((Date.parse(iso) - from) / span) * 100));
            const head = el("tr", {}, [el("th", { scope: "col", text: "Database" })]);
            const days = el("div", { className: "days", "aria-hidden": "true" });
            const start = new Date(from);
            start.setHours(0, 0, 0, 0);
            for (let day = new Date(start); day.getTime() < to; day.setDate(day.getDate() + 1)) {
              const left = ((Math.max(day.getTime(), from) - from) / span) * 100;
              const label = el("span", { className: "day", text: day.toLocaleDateString(undefined, { weekday: "short", day: "numeric" }) });
              label.style.left = left + "%";
              days.appendChild(label);
            }
            head.appendChild(el("th", { scope: "col" }, [el("span", { className: "sr-only", text: "Windows, freezes and changeovers, " + when(data.from) + " to " + when(data.to) }), days]));
            const rows = [el("thead", {}, [head])];
            const body = el("tbody");
            for (const row of data.databases) {
              const track = el("div", { className: "track" });
              const said = [];
              for (const freeze of row.freezes) {
                const bar = el("span", { className: "freeze", title: "freeze " + when(freeze.start) + " – " + when(freeze.end) + (freeze.reason ? ": " + freeze.reason : "") });
                bar.style.left = pct(freeze.start) + "%";
                bar.style.width = Math.max(0.3, pct(freeze.end) - pct(freeze.start)) + "%";
                track.appendChild(bar);
                said.push("frozen " + when(freeze.start) + " to " + when(freeze.end));
              }
              for (const opening of row.openings) {
                const bar = el("span", { className: "window", title: "window " + when(opening.start) + " – " + when(opening.end) });
                bar.style.left = pct(opening.start) + "%";
                bar.style.width = Math.max(0.4, pct(opening.end) - pct(opening.start)) + "%";
                track.appendChild(bar);
                said.push("window " + when(opening.start) + " for " + duration((Date.parse(opening.end) - Date.parse(opening.start)) / 1000));
              }
              for (const plan of row.planned) {
                for (const [at, kind, shape, words] of [[plan.provisionAt, "provision", "▲", "provisioning starts"], [plan.switchAt, "switch", "◆", "switchover"]]) {
                  if (!at || Date.parse(at) > to) continue;
                  const mark = el("span", { className: "mark mark-" + kind, text: shape, title: words + " " + when(at) + " (" + plan.id + ")" });
                  mark.style.left = pct(at) + "%";
                  track.appendChild(mark);
                  said.push(words + " " + when(at));
                }
              }
              if (!row.openings.length) said.push("no window opens in these 14 days");
              body.appendChild(el("tr", { "data-database": row.database }, [
                el("th", { scope: "row", className: "name" }, [text(row.database), el("span", { className: "engine", text: " " + row.engine })]),
                el("td", {}, [track, el("span", { className: "sr-only", text: said.join("; ") })]),
              ]));
            }
            rows.push(body);
            $("timeline-count").textContent = "Showing " + data.databases.length + " of " + data.total + " databases.";
            $("timeline-more").hidden = data.databases.length >= data.total;
            $("timeline").replaceChildren(el("caption", { className: "sr-only", text: "Maintenance windows of the next 14 days, one row per database" }), ...rows);
          }

          function stepDiagram(step) {
            const index = STEPS.indexOf(step);
            const list = el("ol", { className: "steps", "aria-label": "steps" });
            STEPS.forEach((name, i) => {
              const state = i < index ? "past" : i === index ? "now" : "next";
              const item = el("li", { className: state, text: (i < index ? "✓ " : i === index ? "▶ " : "") + name });
              if (i === index) item.setAttribute("aria-current", "step");
              list.appendChild(item);
            });
            return list;
          }

          function table(headers, rows, empty) {
            if (!rows.length) return el("p", { className: "empty", text: empty });
            return el("table", {}, [
              el("thead", {}, [el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))]),
              el("tbody", {}, rows),
            ]);
          }

          // A base backup's or initial sync's percentage, from the progress line the engines write.
          function percent(line) {
            const found = /(?:base backup|initial sync)[^%]*?(\\d{1,3})%/.exec(line || "");
            return found ? Math.min(100, Number(found[1])) : null;
          }
          // The catch-up lag in bytes, from the progress line.
          function lagBytes(line) {
            const found = /^lag (\\d+) bytes/.exec(line || "");
            return found ? Number(found[1]) : null;
          }
          // The lag's last samples of one changeover (one per poll), and where they go.
          function lagTrend(id, lag) {
            const samples = lags.get(id) || [];
            if (lag !== null) samples.push(lag);
            while (samples.length > LAG_SAMPLES) samples.shift();
            lags.set(id, samples);
            if (samples.length < 2) return null;
            const first = samples[0], last = samples[samples.length - 1];
            const band = Math.max(1024, first * 0.1);
            if (last > first + band) return ["↑", "rising"];
            if (last < first - band) return ["↓", "falling"];
            return ["→", "steady"];
          }

          function progressCell(c) {
            const line = c.waitingFor || "–";
            const cell = el("td", { className: "progress" }, [el("span", { className: "line", text: line })]);
            const step = c.record.machine.step;
            const done = step === "provision" || step === "catch-up" ? percent(c.waitingFor) : null;
            if (done !== null) {
              const bar = el("progress", { className: "backup", max: "100", value: String(done), "aria-label": "base backup" });
              cell.appendChild(el("div", { className: "bar" }, [bar, el("span", { className: "percent", text: " " + done + "%" })]));
            }
            const lag = step === "catch-up" ? lagBytes(c.waitingFor) : null;
            const trend = step === "catch-up" ? lagTrend(c.record.id, lag) : null;
            if (trend) {
              const samples = lags.get(c.record.id);
              cell.appendChild(el("div", { className: "trend", title: "last lag samples: " + samples.join(", ") + " bytes" }, [
                el("span", { className: "arrow", "aria-hidden": "true", text: trend[0] + " " }),
                text("lag " + trend[1] + " over the last " + samples.length + " samples"),
              ]));
            }
            return cell;
          }

          function renderRunning(changeovers) {
            for (const id of [...lags.keys()]) if (!changeovers.some((c) => c.record.id === id)) lags.delete(id);
            const rows = changeovers.map((c) => {
              const r = c.record;
              const retry = c.retrying ? c.retrying.call + ": try " + c.retrying.attempt + " failed (" + c.retrying.error + ")" : "none";
              return el("tr", { "data-id": r.id }, [
                el("td", { text: r.id }),
                el("td", { className: "db", text: r.database }),
                el("td", {}, [el("strong", { className: "step", text: r.machine.step }), text(c.state === "running" ? "" : " (" + c.state + ")"), stepDiagram(r.machine.step)]),
                el("td", { className: "in-step", text: duration(c.secondsInStep) }),
                progressCell(c),
                el("td", { className: "retry", text: retry }),
              ]);
            });
            $("running").replaceChildren(table(["Changeover", "Database", "Step", "In step", "Progress", "Last retry"], rows, "No changeover is under way."));
          }

          function renderCampaigns(campaigns) {
            const blocks = campaigns.map((c) => {
              const waves = c.waves.map((w) => {
                const n = (key) => w.counts[key] || 0;
                const running = Object.entries(w.counts).filter(([k]) => k.startsWith("running")).reduce((a, [, v]) => a + v, 0);
                const gates = w.gates.length ? w.gates.map((g) => (g.status === 0 ? "✓ passed" : "✗ failed" + (g.status === null || g.status === undefined ? " (did not finish)" : " (exit " + g.status + ")"))).join(", ") : "–";
                return el("tr", {}, [
                  el("th", { scope: "row", text: w.wave }),
                  el("td", { text: String(n("done")) }),
                  el("td", { text: String(running) }),
                  el("td", { text: String(n("scheduled") + n("to-schedule")) }),
                  el("td", { text: String(n("failed")) }),
                  el("td", { text: String(n("skipped")) }),
                  el("td", { text: gates }),
                ]);
              });
              return el("article", { className: "campaign", "data-campaign": c.id }, [
                el("h3", { text: c.id + " → " + c.image }),
                el("p", { text: "State: " + c.state + (c.halt ? " (" + c.halt + ")" : "") + " · wave " + (c.currentWave || "–") + " · " + c.done + " of " + c.total + " done · failures " + c.failures + " of " + c.maxFailures + " allowed" + (c.eta ? " · ETA " + when(c.eta) : "") }),
                el("div", { className: "scroll" }, [table(["Wave", "Done", "Running", "Pending", "Failed", "Skipped", "Gates"], waves, "No waves.")]),
              ]);
            });
            $("campaigns").replaceChildren(...(blocks.length ? blocks : [el("p", { className: "empty", text: "No campaign." })]));
          }

          const OUTCOMES = { done: ["✓", "completed"], aborted: ["↺", "aborted, rolled back"], failed: ["✗", "failed"] };

          function renderEnded(changeovers) {
            const rows = changeovers.map((c) => {
              const r = c.record;
              const [shape, words] = OUTCOMES[r.machine.step] || ["?", r.machine.step];
              const pause = r.facts["writePause.ms"];
              const link = el("a", { href: "/changeovers/" + encodeURIComponent(r.id) + "/audit", className: "audit-link", text: "audit" });
              link.addEventListener("click", (event) => { event.preventDefault(); showAudit(r.id); });
              return el("tr", { "data-id": r.id, className: "outcome-" + r.machine.step }, [
                el("td", { text: r.id }),
                el("td", { className: "db", text: r.database }),
                el("td", { className: "outcome" }, [el("span", { className: "shape", "aria-hidden": "true", text: shape + " " }), text(words)]),
                el("td", { className: "pause", text: pause !== undefined ? Number(pause).toFixed(1) + " ms" : "–" }),
                el("td", { className: "total", text: duration((Date.parse(r.updatedAt) - Date.parse(r.startedAt)) / 1000) }),
                el("td", { text: when(r.updatedAt) }),
                el("td", {}, [link]),
              ]);
            });
            $("ended").replaceChildren(table(["Changeover", "Database", "Outcome", "Write pause", "Total", "Ended", "Records"], rows, "No changeover has ended yet."));
          }

          async function showAudit(id) {
            try {
              const records = await api("/changeovers/" + encodeURIComponent(id) + "/audit");
              $("audit-title").textContent = "Audit records of " + id;
              $("audit-text").textContent = records.map((r) => r.time + "  " + r.step + "  " + r.outcome + (r.message ? "  " + r.message : "")).join("\\n");
              $("audit").hidden = false;
              $("audit").focus();
            } catch (error) {
              if (error instanceof Refused) signIn("The daemon refused this token: nothing is shown.");
            }
          }

          document.addEventListener("DOMContentLoaded", () => {
            $("token-form").addEventListener("submit", (event) => {
              event.preventDefault();
              const token = $("token").value.trim();
              if (!token) return;
              sessionStorage.setItem(KEY, token);
              $("token").value = "";
              $("message").textContent = "Checking the token…";
              if (timer) clearTimeout(timer);
              refresh();
            });
            $("forget").addEventListener("click", () => signIn("The token is forgotten."));
            $("audit-close").addEventListener("click", () => { $("audit").hidden = true; });
            $("timeline-more").addEventListener("click", () => {
              timelineRows += PAGE;
              timeline = null;
              if (timer) clearTimeout(timer);
              refresh();
            });
            if (sessionStorage.getItem(KEY)) refresh(); else signIn("");
          });
        })();

        """
}
