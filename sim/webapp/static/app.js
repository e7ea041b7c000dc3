// Placement sufficiency web app: one page, no framework. The server does the work; this file
// keeps the options the user is editing, sends runs, polls their progress and draws results.
"use strict";

const COLOURS = ["#1f5f99", "#c0504d", "#4f8a3c", "#8064a2", "#d08a1a", "#3b9ab2"];
const state = {
  config: null,
  scenarios: [],        // {id, name, description, source}
  options: [],          // {name, scenario, levers: {id: text}, starts: {id: date}, info}
  current: 0,
  settings: {},         // years, replications, seed (as typed)
  job: null,
  polling: null,
  start: "",            // the start date of the base option's scenario
};
const RUNS_KEY = "sufficiency-runs";  // the runs this browser started: [{id, title, when}]

const $ = (id) => document.getElementById(id);

// Every write carries the page's token in a header: a form or page on another site cannot
// send it, so only this page can start, cancel or delete runs and upload scenarios.
const TOKEN = document.querySelector("meta[name=sufficiency-token]").content;

async function api(path, init) {
  let response;
  const options = { ...(init || {}) };
  if (options.method && options.method !== "GET") {
    options.headers = { ...(options.headers || {}), "X-Sufficiency-Token": TOKEN };
  }
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw { message: "The app is not answering. Is it still running?", problems: [] };
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    throw {
      message: (body && body.error) || `The server answered ${response.status}.`,
      problems: (body && body.problems) || [],
    };
  }
  return body;
}

function showError(err) {
  const box = $("error");
  box.replaceChildren();
  const p = document.createElement("p");
  p.textContent = err.message || String(err);
  p.style.margin = "0";
  box.appendChild(p);
  if (err.problems && err.problems.length) {
    const ul = document.createElement("ul");
    for (const problem of err.problems) {
      const li = document.createElement("li");
      li.textContent = problem;
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function longDate(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric",
                                         timeZone: "UTC" });
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

// ---------------------------------------------------------------- options and levers

function currentOption() {
  return state.options[state.current];
}

async function loadLevers(option) {
  const info = await api(`/api/scenarios/${encodeURIComponent(option.scenario)}/levers`);
  option.info = info.levers;
  option.note = info.note || "";
  option.description = info.description;
  option.start = info.start;
  option.levers = {};
  option.starts = {};
  for (const lever of info.levers) {
    if (lever.enabled) option.levers[lever.id] = String(lever.value);
    if (lever.enabled && lever.dated) option.starts[lever.id] = lever.start;
  }
  if (!state.settings.years) state.settings.years = String(info.years);
}

function renderTabs() {
  const tabs = $("option-tabs");
  tabs.replaceChildren();
  state.options.forEach((option, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "tab");
    b.setAttribute("aria-selected", String(i === state.current));
    b.dataset.index = String(i);
    const dot = document.createElement("span");
    dot.className = "swatch";
    dot.style.background = COLOURS[i % COLOURS.length];
    b.append(dot, document.createTextNode(option.name + (i === 0 ? " (base)" : "")));
    b.addEventListener("click", () => { state.current = i; renderEditor(); });
    tabs.appendChild(b);
  });
  $("add-option").disabled = state.options.length >= (state.config ? state.config.max_options : 4);
  $("remove-option").hidden = state.options.length <= 1;
}

function renderScenarioSelect() {
  const select = $("scenario-select");
  select.replaceChildren();
  for (const s of state.scenarios) {
    const o = document.createElement("option");
    o.value = s.id;
    o.textContent = s.source === "uploaded" ? `${s.name} (uploaded)`
      : s.kind === "region" ? `${s.name} (region)` : s.name;
    select.appendChild(o);
  }
  select.value = currentOption().scenario;
}

function leverValid(lever, text) {
  if (text === undefined || String(text).trim() === "") return false;
  const v = Number(text);
  if (!Number.isFinite(v) || v < lever.min || v > lever.max) return false;
  return !(lever.integer && !Number.isInteger(v));
}

function renderLevers() {
  const option = currentOption();
  const box = $("levers");
  box.replaceChildren();
  if (option.note) {  // a region: no levers, and why
    const p = document.createElement("p");
    p.className = "hint region-note";
    p.textContent = option.note;
    box.appendChild(p);
  }
  for (const lever of option.info || []) {
    const div = document.createElement("div");
    div.className = "lever" + (lever.enabled ? "" : " disabled");
    div.dataset.lever = lever.id;
    const id = `lever-${lever.id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = lever.label;
    const row = document.createElement("div");
    row.className = "row";
    const input = document.createElement("input");
    input.type = "number";
    input.id = id;
    input.name = lever.id;
    input.min = lever.min;
    input.max = lever.max;
    input.step = lever.step;
    input.disabled = !lever.enabled;
    const range = document.createElement("input");
    range.type = "range";
    range.min = lever.min;
    range.max = Math.min(lever.max, Math.max(lever.max / 4, (lever.value || 0) * 3, lever.min + 10));
    range.step = lever.step;
    range.disabled = !lever.enabled;
    range.setAttribute("aria-label", `${lever.label} (slider)`);
    range.tabIndex = -1;
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = lever.unit;
    const sync = (text) => {
      option.levers[lever.id] = text;
      const ok = leverValid(lever, text);
      input.setAttribute("aria-invalid", String(!ok));
      div.classList.toggle("changed", ok && Number(text) !== Number(lever.value));
    };
    if (lever.enabled) {
      const text = option.levers[lever.id];
      input.value = text;
      range.value = text;
      sync(text);
      input.addEventListener("input", () => { range.value = input.value; sync(input.value); });
      range.addEventListener("input", () => { input.value = range.value; sync(range.value); });
    }
    row.append(input, range, unit);
    const help = document.createElement("p");
    help.className = "help";
    help.textContent = lever.help;
    div.append(label, row);
    if (lever.dated) {
      // Every policy starts on a date: the scenario's own, else its start (shown).
      const when = document.createElement("label");
      when.className = "starts";
      when.textContent = "starts on ";
      const date = document.createElement("input");
      date.type = "date";
      date.id = `start-${lever.id}`;
      date.name = `start-${lever.id}`;
      date.disabled = !lever.enabled;
      date.min = option.start || "";
      if (lever.enabled) {
        date.value = option.starts[lever.id] || lever.start;
        date.addEventListener("input", () => {
          option.starts[lever.id] = date.value;
          div.classList.toggle("changed", date.value !== lever.start ||
                               Number(option.levers[lever.id]) !== Number(lever.value));
        });
      }
      when.appendChild(date);
      div.appendChild(when);
    }
    div.appendChild(help);
    if (!lever.enabled) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = lever.note;
      div.appendChild(note);
    }
    box.appendChild(div);
  }
}

function renderEditor() {
  const option = currentOption();
  renderTabs();
  renderScenarioSelect();
  $("option-name").value = option.name;
  $("scenario-description").textContent = option.description || "";
  renderLevers();
  seekStart();
}

function renderSettings() {
  const box = $("settings");
  box.replaceChildren();
  $("run-limit").textContent =
    `The app runs up to ${state.config.max_run_years.toLocaleString("en-GB")} simulated years ` +
    "at a time (runs × years × options, each council of a region counted); bigger runs go " +
    "to the command line (sufficiency run or compare).";
  for (const s of state.config.settings) {
    const div = document.createElement("div");
    div.className = "lever";
    const label = document.createElement("label");
    label.htmlFor = `setting-${s.id}`;
    label.textContent = s.label;
    const row = document.createElement("div");
    row.className = "row";
    const input = document.createElement("input");
    input.type = "number";
    input.id = `setting-${s.id}`;
    input.min = s.min;
    input.max = s.max;
    input.step = s.step;
    input.value = state.settings[s.id];
    input.addEventListener("input", () => {
      state.settings[s.id] = input.value;
      input.setAttribute("aria-invalid", String(!leverValid({...s, integer: true}, input.value)));
    });
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = s.unit;
    row.append(input, unit);
    const help = document.createElement("p");
    help.className = "help";
    help.textContent = s.help;
    div.append(label, row, help);
    box.appendChild(div);
  }
}

async function addOption() {
  const from = currentOption();
  const letter = String.fromCharCode(65 + state.options.length);
  state.options.push({
    name: `Option ${letter}`,
    scenario: from.scenario,
    description: from.description,
    info: from.info,
    note: from.note,
    start: from.start,
    levers: { ...from.levers },
    starts: { ...from.starts },
  });
  state.current = state.options.length - 1;
  renderEditor();
  $("option-name").focus();
  $("option-name").select();
}

function removeOption() {
  if (state.options.length <= 1) return;
  state.options.splice(state.current, 1);
  state.current = Math.max(0, state.current - 1);
  renderEditor();
}

async function chooseScenario(id) {
  const option = currentOption();
  option.scenario = id;
  clearError();
  try {
    await loadLevers(option);
  } catch (err) {
    showError(err);
  }
  renderEditor();
}

async function uploadScenario(file) {
  const msg = $("upload-message");
  msg.textContent = `Checking ${file.name}…`;
  clearError();
  const form = new FormData();
  form.append("file", file);
  try {
    const entry = await api("/api/scenarios/upload", { method: "POST", body: form });
    state.scenarios.push(entry);
    msg.textContent = `Uploaded “${entry.name}”; it is now chosen for ${currentOption().name}.`;
    await chooseScenario(entry.id);
  } catch (err) {
    msg.textContent = `${file.name} was not used.`;
    showError(err);
  } finally {
    $("scenario-upload").value = "";
  }
}

// ---------------------------------------------------------------- running

function setRunning(running) {
  $("run-button").disabled = running;
  $("seek-button").disabled = running;
  $("run-button").textContent = running ? "Running…" : "Run";
  $("cancel-button").hidden = !running;
  $("progress-box").hidden = false;
}

function optionBody(o) {
  return { name: o.name, scenario: o.scenario, levers: o.levers, starts: o.starts || {} };
}

function showProgress(s) {
  const bar = $("progress");
  bar.max = Math.max(1, s.total);
  bar.value = s.status === "done" ? bar.max : s.done;  // the solver may need fewer runs
  const pct = s.total ? Math.round((100 * s.done) / s.total) : 0;
  $("progress-text").textContent =
    s.status === "running" ? `${s.message}: ${s.done} of ${s.total} runs (${pct}%)` : s.message;
}

function runTitle() {
  return state.options.map((o) => o.name).join(" vs ");
}

function seekTitle() {
  const ind = state.config.seek.indicators.find((i) => i.id === $("seek-indicator").value);
  return `Smallest ${$("seek-lever").value} a year: ${ind ? ind.title : ""} ` +
         `${$("seek-op").value} ${$("seek-value").value} by ${$("seek-year").value}`;
}

async function startRun() {
  await submit("/api/runs", {
    options: state.options.map(optionBody),
    years: state.settings.years,
    replications: state.settings.replications,
    seed: state.settings.seed,
  }, runTitle());
}

async function startSeek() {
  await submit("/api/targets", {
    option: optionBody(currentOption()),
    lever: $("seek-lever").value,
    indicator: $("seek-indicator").value,
    op: $("seek-op").value,
    value: $("seek-value").value,
    year: $("seek-year").value,
    start: $("seek-start").value,
    confidence: $("seek-confidence").value,
    high: $("seek-high").value,
    replications: state.settings.replications,
    seed: state.settings.seed,
  }, seekTitle());
}

async function submit(path, body, title) {
  clearError();
  state.job = null;  // Cancel before the server answers must not reach the previous run
  setRunning(true);
  try {
    const job = await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    state.job = job.id;
    remember(job.id, title);
    history.pushState({ run: job.id }, "", `/runs/${job.id}`);
    showProgress(job);
    poll();
  } catch (err) {
    setRunning(false);
    $("progress-box").hidden = true;
    showError(err);
  }
}

function poll() {
  clearTimeout(state.polling);
  state.polling = setTimeout(async () => {
    const id = state.job;
    let s;
    try {
      s = await api(`/api/runs/${id}`);
    } catch (err) {
      setRunning(false);
      showError(err);
      return;
    }
    if (id !== state.job) return;
    showProgress(s);
    if (s.status === "queued" || s.status === "running") {
      poll();
      return;
    }
    setRunning(false);
    if (s.status === "done") {
      try {
        showResult(id, await api(`/api/runs/${id}/result`));
        $("results").scrollIntoView({ behavior: "smooth", block: "start" });
      } catch (err) {
        showError(err);
      }
    } else if (s.status === "failed") {
      showError({ message: s.error || "The run failed.", problems: [] });
    }
  }, 400);
}

async function cancelRun() {
  if (!state.job) return;
  try {
    await api(`/api/runs/${state.job}/cancel`, { method: "POST" });
  } catch (err) {
    showError(err);
  }
}

async function deleteRun() {
  const id = $("results").dataset.run;
  if (!id) return;
  clearError();
  let gone;
  try {
    gone = await api(`/api/runs/${id}`, { method: "DELETE" });
  } catch (err) {
    showError(err);
    return;
  }
  $("results").dataset.run = "";
  $("result-body").hidden = true;
  $("placeholder").hidden = false;
  $("progress-box").hidden = true;
  forget(id);
  history.pushState({}, "", "/");
  // Uploads that only this run used were deleted with it.
  state.scenarios = state.scenarios.filter((s) => !gone.removed_uploads.includes(s.id));
  renderEditor();
}

// ---------------------------------------------------------------- results

function policyList(options) {
  const box = $("policies");
  box.replaceChildren();
  for (const o of options) {
    const h = document.createElement("h3");
    h.textContent = o.label;
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = o.start ? `From ${o.start}. ` : "";
    p.textContent += o.policies.length ? "Policies and their start dates:" : "No dated policies.";
    const ul = document.createElement("ul");
    for (const text of o.policies) {
      const li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    }
    box.append(h, p, ul);
  }
}

function showResult(id, view) {
  $("placeholder").hidden = true;
  $("result-body").hidden = false;
  const seek = view.kind === "seek";
  // A slot for a few plain-English sentences about the results (built by the server).
  $("summary").innerHTML = view.summary || "";
  $("summary-card").hidden = !view.summary;
  $("seek-result-card").hidden = !seek;
  for (const card of ["jump", "kpi-card", "charts-card", "money-card", "figures-card"]) {
    $(card).hidden = seek;
  }
  const files = view.files;
  renderDownloads(files);
  $("results").dataset.run = id;
  $("results").dataset.kind = view.kind;
  if (seek) {
    $("seek-result").innerHTML = view.html;      // HTML built and escaped by the server
    $("differences-card").hidden = true;
    $("region-card").hidden = true;
    policyList([{ label: view.option, start: "", policies: view.policies }]);
    return;
  }
  policyList(view.options);
  regionCard(id, view);
  $("kpi-table").innerHTML = view.kpis;          // HTML built and escaped by the server
  $("figures").innerHTML = view.figures;
  $("money").innerHTML = view.money;
  $("differences").innerHTML = view.differences;
  $("differences-card").hidden = !view.differences;
  $("jump-differences").hidden = !view.differences;
  $("chart-hint").textContent = view.options.length > 1
    ? "Line: the mean of all runs. Band: the middle half of the runs. Hover over a line " +
      "to read the figures and the range 90% of runs fall in."
    : "Line: the mean of all runs. Darker band: half of the runs. Lighter band: 90% of " +
      "them. Hover over a line to read the figures.";
  drawCharts(view.charts);
}

// ---------------------------------------------------------------- by council and by child

// The council shown (empty: the whole region, or the one council of a single run).
let shownCouncil = "";

function regionCard(id, view) {
  $("region-card").hidden = false;
  const councils = view.councils || [];
  $("council-field").hidden = councils.length === 0;
  const select = $("council-select");
  select.replaceChildren(new Option("The whole region", ""));
  for (const c of councils) select.appendChild(new Option(c, c));
  shownCouncil = view.council || "";
  select.value = shownCouncil;
  $("council-note").textContent = councils.length === 0 ? "" : shownCouncil
    ? `Every figure on this page is ${shownCouncil}'s own.`
    : `Every figure on this page is the total of the region's ${councils.length} councils.`;
  loadChildren(id);
}

async function showCouncil() {
  const id = $("results").dataset.run;
  const council = $("council-select").value;
  clearError();
  try {
    const query = council ? `?council=${encodeURIComponent(council)}` : "";
    const view = await api(`/api/runs/${id}/result${query}`);
    showResult(id, view);
  } catch (err) {
    showError(err);
  }
}

async function loadChildren(id) {
  const query = new URLSearchParams({
    council: shownCouncil,
    sex: $("filter-sex").value,
    uasc: $("filter-uasc").value,
    age: $("filter-age").value,
  });
  try {
    const got = await api(`/api/runs/${id}/children?${query}`);
    $("filter-label").textContent = `Counting: ${got.filter}.`;
    $("filter-table").innerHTML = got.html;     // HTML built and escaped by the server
  } catch (err) {
    $("filter-label").textContent = err.message;
    $("filter-table").replaceChildren();
  }
}

function renderDownloads(files) {
  const list = $("downloads");
  list.replaceChildren();
  for (const f of files) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = f.url;
    a.textContent = f.label;
    a.setAttribute("download", f.name);
    a.dataset.file = f.name;
    li.appendChild(a);
    list.appendChild(li);
  }
}

function drawCharts(groups) {
  const charts = $("charts");
  if (window.Plotly) for (const div of charts.querySelectorAll(".plot")) Plotly.purge(div);
  charts.replaceChildren();
  for (const group of groups) {
    const section = document.createElement("section");
    section.className = "chart-group";
    section.id = `group-${group.key}`;
    const h = document.createElement("h3");
    h.textContent = group.title;
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = group.note;
    const panels = document.createElement("div");
    panels.className = "panels";
    section.append(h, note, panels);
    charts.appendChild(section);
    for (const panel of group.panels) {
      const fig = document.createElement("figure");
      fig.className = "panel";
      const cap = document.createElement("figcaption");
      cap.textContent = panel.title;
      const div = document.createElement("div");
      div.className = "plot";
      div.id = `plot-${panel.column}`;
      fig.append(cap, div);
      panels.appendChild(fig);
      if (window.Plotly) {
        Plotly.newPlot(div, panel.figure.data, panel.figure.layout, {
          displaylogo: false,
          responsive: true,
          modeBarButtonsToRemove: ["select2d", "lasso2d"],
        });
      } else {
        div.textContent = "The chart library did not load; the tables above hold the figures.";
      }
    }
  }
}

// ---------------------------------------------------------------- runs kept, and their address

function myRuns() {
  try {
    return JSON.parse(localStorage.getItem(RUNS_KEY) || "[]");
  } catch (err) {
    return [];
  }
}

function saveRuns(runs) {
  try {
    localStorage.setItem(RUNS_KEY, JSON.stringify(runs.slice(0, 50)));
  } catch (err) { /* private browsing: the list is not kept */ }
  renderRuns();
}

function remember(id, title) {
  saveRuns([{ id, title, when: new Date().toISOString() }, ...myRuns().filter((r) => r.id !== id)]);
}

function forget(id) {
  saveRuns(myRuns().filter((r) => r.id !== id));
}

function renderRuns() {
  const list = $("my-runs");
  list.replaceChildren();
  for (const r of myRuns()) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/runs/${r.id}`;
    a.textContent = r.title || r.id;
    a.addEventListener("click", (e) => { e.preventDefault(); openRun(r.id, true); });
    const when = document.createElement("small");
    when.textContent = ` ${new Date(r.when).toLocaleString("en-GB")}`;
    li.append(a, when);
    list.appendChild(li);
  }
  $("my-runs-card").hidden = !list.children.length;
}

function runFromAddress() {
  const m = location.pathname.match(/^\/runs\/([0-9a-f]{32})$/);
  return m ? m[1] : null;
}

async function openRun(id, push) {
  clearError();
  if (push) history.pushState({ run: id }, "", `/runs/${id}`);
  let s;
  try {
    s = await api(`/api/runs/${id}`);
  } catch (err) {
    forget(id);
    showError({ message: err.message, problems: [] });
    return;
  }
  state.job = id;
  showProgress(s);
  if (s.status === "queued" || s.status === "running") {
    setRunning(true);
    poll();
  } else if (s.status === "done") {
    const view = await api(`/api/runs/${id}/result`);
    await restoreInputs(view.inputs, view.kind);
    showResult(id, view);
    $("results").scrollIntoView({ block: "start" });
  } else if (s.status === "failed") {
    showError({ message: s.error || "The run failed.", problems: [] });
  }
}

// The inputs a run was started with, back in the editor (after a reload or from a shared
// address), so the user can change one thing and run again.
async function restoreInputs(inputs, kind) {
  if (!inputs) return;
  const list = kind === "seek" ? [inputs.option] : inputs.options;
  if (!Array.isArray(list) || !list.length) return;
  const options = [];
  for (const item of list) {
    // An uploaded scenario is not offered after a restart of the page: keep the editor as is.
    if (!item || !state.scenarios.some((s) => s.id === item.scenario)) return;
    const option = {
      name: item.name || `Option ${String.fromCharCode(65 + options.length)}`,
      scenario: item.scenario,
    };
    await loadLevers(option);
    for (const [k, v] of Object.entries(item.levers || {})) {
      if (k in option.levers) option.levers[k] = String(v);
    }
    for (const [k, v] of Object.entries(item.starts || {})) {
      if (k in option.starts) option.starts[k] = String(v);
    }
    options.push(option);
  }
  state.options = options;
  state.current = 0;
  for (const k of ["years", "replications", "seed"]) {
    if (inputs[k] !== undefined) state.settings[k] = String(inputs[k]);
  }
  if (kind === "seek") {
    for (const [field, event] of [["lever", "change"], ["indicator", "change"], ["op", ""],
                                  ["value", ""], ["year", ""], ["start", ""], ["confidence", ""],
                                  ["high", ""]]) {
      if (inputs[field] === undefined) continue;
      $(`seek-${field}`).value = String(inputs[field]);
      if (event) $(`seek-${field}`).dispatchEvent(new Event(event));
    }
    if (inputs.op !== undefined) $("seek-op").value = String(inputs.op);
    if (inputs.high !== undefined) $("seek-high").value = String(inputs.high);
  }
  renderSettings();
  renderEditor();
}

// ---------------------------------------------------------------- goal-seek form

function renderSeek() {
  const cfg = state.config.seek;
  const lever = $("seek-lever");
  for (const l of cfg.levers) {
    const o = document.createElement("option");
    o.value = l.id;
    o.textContent = l.unit;
    lever.appendChild(o);
  }
  const ind = $("seek-indicator");
  for (const i of cfg.indicators) {
    const o = document.createElement("option");
    o.value = i.id;
    o.textContent = i.title;
    ind.appendChild(o);
  }
  for (const op of cfg.ops) {
    const o = document.createElement("option");
    o.value = op;
    o.textContent = op === ">=" ? "at least (>=)" : "at most (<=)";
    $("seek-op").appendChild(o);
  }
  const onLever = () => {
    const l = cfg.levers.find((x) => x.id === lever.value);
    $("seek-high-label").textContent = `Search from 0 up to (${l.unit}, in steps of ${l.step})`;
    $("seek-high").min = l.min;
    $("seek-high").max = l.max;
    $("seek-high").step = l.step;
    $("seek-high").value = l.high;
  };
  const onIndicator = () => {
    const i = cfg.indicators.find((x) => x.id === ind.value);
    $("seek-op").value = i.op;
    $("seek-value-label").textContent = `value (${i.unit})`;
  };
  lever.addEventListener("change", onLever);
  ind.addEventListener("change", onIndicator);
  ind.value = "in_house_share";
  $("seek-value").value = "90";
  onLever();
  onIndicator();
}

function seekYear() {
  // The default goal year: five years after the base option's start.
  const start = currentOption().start;
  if (start && !$("seek-year").value) $("seek-year").value = String(Number(start.slice(0, 4)) + 5);
}

function seekStart() {
  // The day recruitment is raised: the option's start unless the user chose another day.
  const input = $("seek-start");
  const start = currentOption().start || "";
  if (!input.value || input.value === input.dataset.default) input.value = start;
  input.dataset.default = start;
  input.min = start;
  $("seek-start-default").textContent = start ? `(the scenario starts on ${longDate(start)})` : "";
}

// ---------------------------------------------------------------- start

async function init() {
  try {
    state.config = await api("/api/config");
    state.scenarios = await api("/api/scenarios");
    for (const s of state.config.settings) {
      if (s.id === "replications") state.settings.replications = "10";
      if (s.id === "seed") state.settings.seed = "2019";
    }
    if (!state.scenarios.length) {
      showError({ message: "No bundled scenarios were found. Upload a scenario file to start.",
                  problems: [] });
      state.options.push({ name: "Option A", scenario: "", levers: {}, info: [] });
    } else {
      const first = state.scenarios.find((s) => s.id === "kent_2024") || state.scenarios[0];
      const option = { name: "Option A", scenario: first.id };
      await loadLevers(option);
      state.options.push(option);
    }
    renderSettings();
    renderSeek();
    renderEditor();
    seekYear();
    renderRuns();
    $("disk-use").textContent =
      `they use ${state.config.disk_used_mb.toLocaleString("en-GB")} MB of the ` +
      `${state.config.disk_limit_mb.toLocaleString("en-GB")} MB it may use. When that is full, ` +
      "new runs are refused until you delete some; no run is ever deleted for you.";
    const id = runFromAddress();
    if (id) await openRun(id, false);
  } catch (err) {
    showError(err);
  }
  $("add-option").addEventListener("click", addOption);
  $("remove-option").addEventListener("click", removeOption);
  $("option-name").addEventListener("input", (e) => {
    currentOption().name = e.target.value;
    renderTabs();
  });
  $("scenario-select").addEventListener("change", (e) => chooseScenario(e.target.value));
  $("scenario-upload").addEventListener("change", (e) => {
    if (e.target.files.length) uploadScenario(e.target.files[0]);
  });
  $("run-button").addEventListener("click", startRun);
  $("seek-button").addEventListener("click", startSeek);
  window.addEventListener("popstate", () => {
    const id = runFromAddress();
    if (id) openRun(id, false);
  });
  $("cancel-button").addEventListener("click", cancelRun);
  $("delete-button").addEventListener("click", deleteRun);
  $("council-select").addEventListener("change", showCouncil);
  for (const f of ["filter-sex", "filter-uasc", "filter-age"]) {
    $(f).addEventListener("change", () => loadChildren($("results").dataset.run));
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
