// The VelumOS dashboard: reads the node's API and its event stream (fetch, so that a bearer
// token can go along), and renders members, jobs, a job's chunk timeline, throughput, failures.
// Data only ever reaches the page through textContent and attributes, never as markup.
'use strict';

(function () {
  // Limits in one place: what the page asks of the node, and what it keeps.
  const LIMITS = {
    pollMs: 5000,              // members and status
    jobsPollMs: 5000,          // the job list ...
    jobsPollsWhenLive: 4,      // ... but one poll in this many while the event stream is live
    timelinePollMs: 2000,      // the selected job's timeline, while it runs ...
    largeTimelineSpans: 5000,  // ... but past this many attempts
    largeTimelineEvery: 5,     // ... one poll in this many
    jobsPerPage: 15,           // rows of the job list in the DOM at once (a page)
    failuresShown: 50,         // rows of recent failures
    throughputPoints: 150,     // 5 minutes at one point every 2 s
    throughputSampleMs: 2000,
    eventRetryMaxMs: 30000,
    eventBufferBytes: 1 << 20, // an event stream line longer than this is dropped
    outputShownBytes: 16384,   // of a job's output, the start
  };
  const TOKEN_KEY = 'velum.token';

  const $ = (id) => document.getElementById(id);

  // ---- the API ---------------------------------------------------------------------------

  class Unauthorized extends Error {}

  function headers() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  async function api(path) {
    const response = await fetch(path, { headers: headers(), cache: 'no-store' });
    if (response.status === 401) throw new Unauthorized(path);
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  function askToken(message) {
    $('auth').hidden = false;
    $('auth-error').textContent = message || '';
    setConn('token', 'token needed');
  }

  function setConn(state, text) {
    $('conn').dataset.state = state;
    $('conn').textContent = text;
  }

  // ---- formatting ------------------------------------------------------------------------

  function duration(ms) {
    if (ms === null || ms === undefined || ms < 0) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    const s = Math.round(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }

  function quantity(n) {
    if (!(n >= 0)) return String(n);
    if (n < 10000) return String(Math.round(n));
    if (n < 1e6) return (n / 1e3).toFixed(1) + 'k';
    if (n < 1e9) return (n / 1e6).toFixed(2) + 'M';
    return (n / 1e9).toFixed(2) + 'G';
  }

  function resultText(result) {
    if (result === undefined || result === null) return '';
    if (Array.isArray(result)) return result.map(String).join(' ');
    return typeof result === 'object' ? JSON.stringify(result) : String(result);
  }

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  // Replaces a tbody's rows (only what is shown: a page, a capped list).
  function fillBody(tbody, rows) {
    const fragment = document.createDocumentFragment();
    for (const row of rows) fragment.appendChild(row);
    tbody.replaceChildren(fragment);
  }

  // ---- members ---------------------------------------------------------------------------

  const state = {
    status: null,
    peers: [],
    jobs: new Map(),   // id -> summary (scatter: the jobs JSON; map: the maps JSON, kind 'map')
    order: [],         // ids, newest first
    page: 0,
    selected: null,
    detail: null,
    timeline: null,
    rendered: { members: false, jobs: false },
    throughput: { last: null, points: [] },
  };

  function renderMembers() {
    const rows = [];
    const s = state.status;
    if (s) {
      // This node is a member too: the first row, marked as self.
      const tr = document.createElement('tr');
      tr.dataset.member = String(s.id);
      tr.dataset.state = 'alive';
      tr.dataset.self = '1';
      cell(tr, s.id + ' (this node)');
      cell(tr, 'alive', 'state state-alive');
      cell(tr, s.addr);
      cell(tr, s.slots);
      cell(tr, s.busy_slots);
      cell(tr, '');
      cell(tr, 'now');
      rows.push(tr);
    }
    for (const p of state.peers) {
      const tr = document.createElement('tr');
      tr.dataset.member = String(p.id);
      tr.dataset.state = String(p.state);
      cell(tr, p.id);
      cell(tr, p.state, 'state state-' + String(p.state).replace(/[^a-z]/g, ''));
      cell(tr, p.addr);
      cell(tr, p.slots);
      cell(tr, p.load);
      cell(tr, !p.link ? 'no link' : p.link_rtt_us < 0 ? 'up' : (p.link_rtt_us / 1000).toFixed(2) + ' ms');
      cell(tr, p.last_heard_ms < 0 ? 'never' : duration(p.last_heard_ms) + ' ago');
      rows.push(tr);
    }
    fillBody($('members').tBodies[0], rows);
    const alive = (s ? 1 : 0) + state.peers.filter((p) => p.state === 'alive').length;
    $('members-count').textContent = alive + ' alive of ' + rows.length;
    if (s) $('self-title').textContent = 'node ' + s.id + ' at ' + s.addr;
    state.rendered.members = true;
  }

  async function loadMembers() {
    const [status, peers] = await Promise.all([api('/api/status'), api('/api/peers')]);
    state.status = status;
    state.peers = (peers && peers.peers) || [];
    renderMembers();
  }

  // ---- jobs ------------------------------------------------------------------------------

  function progressOf(job) {
    if (job.kind === 'wasm') return { done: job.state === 'running' ? 0 : 1, total: 1 };
    if (job.kind === 'map') return { done: (job.ok || 0) + (job.failed ? job.failed.length : 0), total: job.items || 0 };
    return { done: job.items_done || 0, total: job.items_total || 0 };
  }

  function workOf(job) {
    if (job.kind === 'wasm') return 'one call' + (job.node !== undefined ? ', on node ' + job.node : '');
    if (job.kind === 'map') return job.items + ' items' + (job.out ? ' -> ' + job.out : '');
    return (job.module || '') + ' ' + (job.func || '') + ' [' + job.start + ', ' + job.end + ')';
  }

  function jobRow(job) {
    const tr = document.createElement('tr');
    tr.dataset.job = String(job.job);
    tr.dataset.state = String(job.state);
    tr.dataset.kind = job.kind;
    if (state.selected === job.job) tr.className = 'selected';
    cell(tr, job.job);
    cell(tr, job.kind);
    cell(tr, job.state, 'state state-' + String(job.state).replace(/[^a-z]/g, ''));
    const p = progressOf(job);
    const td = cell(tr, '');
    const bar = document.createElement('progress');
    bar.max = Math.max(p.total, 1);
    bar.value = Math.min(p.done, bar.max);
    const label = document.createElement('span');
    label.className = 'muted';
    label.textContent = ' ' + (p.total ? Math.floor((100 * p.done) / p.total) : 0) + '%';
    td.append(bar, label);
    cell(tr, duration(job.elapsed_ms));
    cell(tr, workOf(job), 'work');
    const result = job.kind === 'map' ? (job.state === 'done' ? job.ok + ' ok, ' + (job.failed || []).length + ' failed' : '')
                                      : resultText(job.result);
    cell(tr, job.error && !result ? job.error : result, job.error && !result ? 'result error' : 'result');
    return tr;
  }

  function renderJobs() {
    const t0 = performance.now();
    const pages = Math.max(1, Math.ceil(state.order.length / LIMITS.jobsPerPage));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * LIMITS.jobsPerPage;
    const shown = state.order.slice(first, first + LIMITS.jobsPerPage);
    fillBody($('jobs').tBodies[0], shown.map((id) => jobRow(state.jobs.get(id))));
    const running = state.order.filter((id) => state.jobs.get(id).state === 'running').length;
    $('jobs-count').textContent = running + ' running, ' + state.order.length + ' in all';
    $('jobs-page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
    $('jobs-prev').disabled = state.page === 0;
    $('jobs-next').disabled = state.page >= pages - 1;
    $('jobs').dataset.renderMs = (performance.now() - t0).toFixed(1);
    state.rendered.jobs = true;
  }

  async function loadJobs() {
    const answer = await api('/api/jobs?all=1');
    const before = state.selected !== null ? state.jobs.get(state.selected) : null;
    const jobs = new Map();
    for (const j of (answer && answer.jobs) || []) jobs.set(j.job, Object.assign({ kind: 'scatter' }, j));
    for (const m of (answer && answer.maps) || []) jobs.set(m.job, Object.assign({}, m, { kind: 'map' }));
    // Calls submitted over HTTP (POST /api/jobs kind wasm): not jobs of the node, listed too.
    for (const c of (answer && answer.calls) || []) jobs.set(c.job, Object.assign({}, c, { kind: 'wasm' }));
    state.jobs = jobs;
    state.order = Array.from(jobs.keys()).sort((a, b) => b - a);
    const after = state.selected !== null ? jobs.get(state.selected) : null;
    if (before && after && before.state !== after.state) schedule('selected', 100);  // it ended
    renderJobs();
    collectFailures();
    sampleThroughput();
    // The newest job is shown until another is chosen (or ?job=ID chose one).
    if (state.selected === null && state.order.length) {
      const asked = Number(new URLSearchParams(location.search).get('job'));
      select(state.jobs.has(asked) ? asked : state.order[0]);
    }
  }

  // A progress event between polls: the row is updated in place, if it is on the page.
  function onJobEvent(e) {
    const job = state.jobs.get(e.job);
    if (!job) return schedule('jobs', 500);  // a new job: the list is read again
    job.state = e.state || job.state;
    if (job.kind === 'map') job.ok = e.done;
    else {
      job.items_done = e.done;
      job.items_total = e.total;
    }
    const old = $('jobs').querySelector('tr[data-job="' + Number(e.job) + '"]');
    if (old) old.replaceWith(jobRow(job));
    if (state.selected === e.job && state.detail && job.kind === 'scatter') {
      state.detail.items_done = e.done;
      renderDetail();
    }
    sampleThroughput();
  }

  // ---- the selected job ------------------------------------------------------------------

  function fact(dl, name, value) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = value === undefined || value === null ? '' : String(value);
    dl.append(dt, dd);
  }

  function renderDetail() {
    const d = state.detail;
    $('job-detail').hidden = !d;
    if (!d) return;
    const kind = d.kind || (d.items !== undefined && d.items_total === undefined ? 'map' : 'scatter');
    $('job-title').textContent = String(d.job) + ' (' + d.state + ')';
    $('job-detail').dataset.job = String(d.job);
    $('job-detail').dataset.state = String(d.state);
    const dl = $('job-facts');
    dl.replaceChildren();
    fact(dl, 'state', d.state);
    if (kind === 'map') {
      fact(dl, 'items', d.items + ' (' + d.ok + ' ok)');
    } else {
      fact(dl, 'work', workOf(d));
      fact(dl, 'reducer', d.reducer);
      fact(dl, 'items', quantity(d.items_done) + ' of ' + quantity(d.items_total));
      fact(dl, 'chunks', d.chunks);
      fact(dl, 'reassigned', d.reassigned + ' (' + quantity(d.reassigned_items) + ' items), recomputed ' + quantity(d.recomputed));
      fact(dl, 'backups, retries', d.backups + ', ' + d.retries);
    }
    fact(dl, 'elapsed', duration(d.elapsed_ms));
    $('job-result').textContent = kind === 'map' ? d.ok + ' ok' : resultText(d.result);
    $('job-error').textContent = d.error || '';
    const workers = Array.isArray(d.workers) ? d.workers : [];
    fillBody($('job-workers').tBodies[0], workers.map((w) => {
      const tr = document.createElement('tr');
      tr.dataset.worker = String(w.id !== undefined ? w.id : w.node);
      cell(tr, w.id !== undefined ? w.id : w.node);
      cell(tr, w.chunks !== undefined ? w.chunks : '');
      cell(tr, quantity(w.items));
      cell(tr, w.seconds !== undefined ? w.seconds.toFixed(2) : '');
      cell(tr, w.items_per_s !== undefined ? quantity(w.items_per_s) : '');
      return tr;
    }));
    const output = Array.isArray(d.output) ? d.output : [];
    let text = '';
    for (const b of output) {
      if (text.length >= LIMITS.outputShownBytes) break;
      text += '[node ' + b.node + ', ' + b.start + '..' + b.end + ') ' + b.stream + ':\n' + b.data + '\n';
    }
    $('job-output').hidden = !text;
    $('job-output').textContent = text.slice(0, LIMITS.outputShownBytes);
  }

  // The selected job's summary (with its output: up to a MiB) and its timeline.
  async function loadSelected() {
    const id = state.selected;
    if (id === null) return;
    const [detail, timeline] = await Promise.all([api('/api/jobs/' + id), api('/api/jobs/' + id + '/timeline')]);
    if (state.selected !== id) return;  // another was selected meanwhile
    const listed = state.jobs.get(id);
    state.detail = detail ? Object.assign({ kind: listed ? listed.kind : undefined }, detail) : listed || null;
    state.timeline = timeline;
    renderDetail();
    drawTimeline();
  }

  // While the selected job runs: its timeline only (the summary comes when it ends), less often
  // once it is large (a timeline of 20 000 attempts is a megabyte of JSON).
  let timelinePolls = 0;
  async function followSelected() {
    const id = state.selected;
    const j = id !== null ? state.jobs.get(id) : null;
    if (!j || j.state !== 'running') return;
    const large = state.timeline && state.timeline.spans && state.timeline.spans.length > LIMITS.largeTimelineSpans;
    if (large && ++timelinePolls % LIMITS.largeTimelineEvery !== 0) return;
    const timeline = await api('/api/jobs/' + id + '/timeline');
    if (state.selected !== id) return;
    state.timeline = timeline;
    drawTimeline();
  }

  function select(id) {
    state.selected = id;
    state.timeline = null;
    for (const tr of $('jobs').tBodies[0].rows) tr.classList.toggle('selected', Number(tr.dataset.job) === id);
    loadSelected().catch(report);
  }

  // ---- the timeline: one lane per worker, drawn on a canvas -----------------------------

  const COLORS = { done: '#4e79a7', done2: '#76a0cf', running: '#f2b447', lost: '#e15759', failed: '#9c1c1c', stopped: '#9aa0a6' };
  // A lane per worker, a row per attempt it ran at once (its slots, and lookahead): each
  // attempt goes to the first row free when it started, as in Dask's task stream.
  const ROW_PX = 14, LANE_GAP_PX = 6, AXIS_PX = 18, LABEL_PX = 70, MAX_ROWS = 16;
  let rows = null;  // for the pointer: [{y, spans sorted by start}]

  function packRows(spans) {
    spans.sort((a, b) => a.started - b.started);
    const ends = [];
    for (const s of spans) {
      let r = ends.findIndex((end) => end <= s.started);
      if (r < 0 && ends.length < MAX_ROWS) r = ends.push(0) - 1;
      if (r < 0) r = ends.indexOf(Math.min(...ends));  // beyond MAX_ROWS rows: overlaps
      ends[r] = Math.max(ends[r], s.ended);
      s.row = r;
    }
    return Math.max(1, ends.length);
  }

  function drawTimeline() {
    const t0 = performance.now();
    const canvas = $('timeline');
    const t = state.timeline;
    const note = $('timeline-note');
    const c = canvas.getContext('2d');
    if (!t || !Array.isArray(t.spans)) {
      canvas.height = 40;
      c.clearRect(0, 0, canvas.width, canvas.height);
      note.textContent = state.selected === null ? '' : 'No timeline for this job (not a scatter job, or no longer held in memory).';
      canvas.dataset.spans = '0';
      rows = null;
      return;
    }
    const workers = (t.workers || []).slice().sort((a, b) => a - b);
    const byWorker = new Map(workers.map((w) => [w, []]));
    const counts = {};
    for (const s of t.spans) {
      const [worker, begin, end, done, started, ended, outcome, backup] = s;
      counts[outcome] = (counts[outcome] || 0) + 1;
      const list = byWorker.get(worker);
      if (list) list.push({ worker, begin, end, done, started, ended, outcome, backup });
    }
    const lanes = workers.map((w) => ({ worker: w, spans: byWorker.get(w), rows: packRows(byWorker.get(w)) }));
    let y = AXIS_PX;
    for (const lane of lanes) {
      lane.y = y;
      y += lane.rows * ROW_PX + LANE_GAP_PX;
    }
    const width = Math.max(300, canvas.parentElement.clientWidth || 1200);
    canvas.width = width;
    canvas.height = Math.max(y, AXIS_PX + ROW_PX) + 2;
    c.clearRect(0, 0, canvas.width, canvas.height);
    const span = Math.max(1, t.elapsed_ms);
    const plot = width - LABEL_PX - 8;
    const x = (ms) => LABEL_PX + (Math.min(ms, span) / span) * plot;
    // Axis: five ticks of time since the job's submission.
    c.fillStyle = '#555';
    c.font = '11px sans-serif';
    for (let i = 0; i <= 4; i++) {
      const ms = (span * i) / 4;
      c.fillText(duration(ms) || '0', Math.min(x(ms), width - 50), 12);
    }
    // Spans grouped by colour and drawn as one path each: thousands of chunks are one fill per
    // colour, and spans narrower than a pixel still show as one.
    const paths = {};
    const marks = [];
    const backups = new Path2D();
    rows = [];
    for (const lane of lanes) {
      c.fillStyle = '#555';
      c.fillText('node ' + lane.worker, 4, lane.y + Math.min(lane.rows * ROW_PX, 2 * ROW_PX) - 2);
      const laneRows = [];
      for (let r = 0; r < lane.rows; r++) {
        laneRows.push({ y: lane.y + r * ROW_PX, spans: [] });
      }
      let n = 0;
      for (const s of lane.spans) {
        const x0 = x(s.started), x1 = Math.max(x(s.ended), x0 + 1);
        const top = lane.y + s.row * ROW_PX + 1;
        // Done chunks alternate two shades, so that neighbours stay apart (as Dask's do).
        const key = s.outcome === 'done' && n++ % 2 ? 'done2' : s.outcome;
        (paths[key] || (paths[key] = new Path2D())).rect(x0, top, x1 - x0, ROW_PX - 2);
        if (s.backup) backups.rect(x0 + 0.5, top + 0.5, x1 - x0 - 1, ROW_PX - 3);
        if (s.outcome === 'lost' || s.outcome === 'failed') marks.push([x1, top, s.outcome]);
        laneRows[s.row].spans.push(s);
      }
      rows.push(...laneRows);
    }
    for (const [key, path] of Object.entries(paths)) {
      c.fillStyle = COLORS[key] || '#333';
      c.fill(path);
    }
    c.strokeStyle = '#222';
    c.stroke(backups);
    // Reassignments and failures: a mark at the moment each attempt was given up.
    for (const [mx, my, outcome] of marks) {
      c.fillStyle = outcome === 'failed' ? COLORS.failed : COLORS.lost;
      c.beginPath();
      c.moveTo(mx - 3, my - 1);
      c.lineTo(mx + 3, my - 1);
      c.lineTo(mx, my + 5);
      c.closePath();
      c.fill();
    }
    let text = t.spans.length + ' attempts over ' + duration(t.elapsed_ms) + ': ' +
      Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', ');
    if (t.dropped) text += '; the oldest ' + t.dropped + ' are no longer kept';
    if (t.restored) text += '; restored after a restart: earlier attempts not known';
    note.textContent = text;
    canvas.dataset.spans = String(t.spans.length);
    canvas.dataset.drawMs = (performance.now() - t0).toFixed(1);  // read by tests and benchmarks
  }

  function onTimelinePointer(event) {
    if (!rows || !state.timeline) return;
    const canvas = $('timeline');
    const rect = canvas.getBoundingClientRect();
    const px = ((event.clientX - rect.left) * canvas.width) / rect.width;
    const py = ((event.clientY - rect.top) * canvas.height) / rect.height;
    const row = rows.find((r) => py >= r.y && py < r.y + ROW_PX);
    const plot = canvas.width - LABEL_PX - 8;
    const ms = ((px - LABEL_PX) / plot) * Math.max(1, state.timeline.elapsed_ms);
    let found = null;
    if (row) {
      // In a row attempts do not overlap: the last one started at or before the pointer's time.
      const spans = row.spans;
      let lo = 0, hi = spans.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (spans[mid].started <= ms) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && spans[lo - 1].ended >= ms) found = spans[lo - 1];
    }
    $('timeline-tip').textContent = found
      ? 'node ' + found.worker + ': items [' + found.begin + ', ' + found.end + '), reached ' + found.done +
        ', ' + duration(found.started) + ' to ' + duration(found.ended) + ', ' + found.outcome + (found.backup ? ' (backup)' : '')
      : '';
  }

  // ---- failures --------------------------------------------------------------------------

  // Recent failures: those the job list holds (a slice's error, a worker lost, a map item that
  // failed), newest job first.
  function collectFailures() {
    const rows = [];
    for (const id of state.order) {
      if (rows.length >= LIMITS.failuresShown) break;
      const j = state.jobs.get(id);
      if (j.kind === 'map') {
        for (const f of j.failed || [])
          rows.push({ job: j.job, node: f.node, where: 'item ' + f.item + ' (' + f.input + ')', error: f.error, stderr: f.stderr });
      } else {
        if (j.failure)
          rows.push({ job: j.job, node: j.failure.node, where: 'items [' + j.failure.start + ', ' + j.failure.end + ')',
                      error: j.failure.kind + ': ' + j.failure.message, stderr: '' });
        for (const f of j.failures || [])
          rows.push({ job: j.job, node: f.worker, where: f.attempts + ' chunk(s), ' + quantity(f.reassigned_items) + ' items handed on',
                      error: 'worker lost (detected after ' + duration(f.detection_ms) + ')', stderr: '' });
      }
    }
    const all = rows.slice(0, LIMITS.failuresShown);
    fillBody($('failures').tBodies[0], all.map((f) => {
      const tr = document.createElement('tr');
      tr.dataset.job = String(f.job);
      cell(tr, f.job);
      cell(tr, f.node);
      cell(tr, f.where);
      cell(tr, f.error, 'error');
      const tail = String(f.stderr || '');
      cell(tr, tail.length > 240 ? '...' + tail.slice(-240) : tail, 'stderr');
      return tr;
    }));
    $('failures-count').textContent = all.length ? String(all.length) : 'none';
  }

  // The job list holds every failure the node keeps: an event only has it read again soon.
  function onFailureEvent() {
    schedule('jobs', 300);
  }

  // ---- throughput ------------------------------------------------------------------------

  let chart = null;

  function setupChart() {
    if (typeof Chart === 'undefined') {
      $('throughput-none').hidden = false;
      return;
    }
    chart = new Chart($('throughput'), {
      type: 'line',
      data: { labels: [], datasets: [{ label: 'items/s', data: [], borderColor: '#4e79a7', backgroundColor: 'rgba(78,121,167,0.2)', fill: true, pointRadius: 2, tension: 0.2 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
        plugins: { legend: { display: false } },
        scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true } },
      },
    });
  }

  function pushThroughput(at, rate) {
    const points = state.throughput.points;
    points.push({ at, rate });
    while (points.length > LIMITS.throughputPoints) points.shift();
    $('throughput-now').textContent = 'now: ' + quantity(rate) + ' items/s';
    if (chart) {
      chart.data.labels = points.map((p) => new Date(p.at).toLocaleTimeString());
      chart.data.datasets[0].data = points.map((p) => p.rate);
      chart.update('none');
    }
  }

  // Items done over all jobs held, as a rate between two samples.
  function sampleThroughput() {
    let items = 0;
    for (const j of state.jobs.values()) items += progressOf(j).done;
    const now = Date.now();
    const last = state.throughput.last;
    if (!last) {
      // The first look: the running jobs' mean rate so far, so the chart starts with a point.
      let rate = 0;
      for (const j of state.jobs.values())
        if (j.state === 'running' && j.kind !== 'map' && j.elapsed_ms > 0) rate += (progressOf(j).done * 1000) / j.elapsed_ms;
      pushThroughput(now, rate);
    }
    if (last && now - last.at >= LIMITS.throughputSampleMs / 2) {
      pushThroughput(now, Math.max(0, ((items - last.items) * 1000) / (now - last.at)));
    }
    if (!last || now - last.at >= LIMITS.throughputSampleMs / 2) state.throughput.last = { at: now, items };
  }

  // ---- the event stream (fetch + reader: EventSource cannot send the token) ---------------

  let eventDelayMs = 1000;
  let eventsLive = false;

  function dispatch(type, data) {
    let e;
    try { e = JSON.parse(data); } catch (_) { return; }
    if (type === 'member') schedule('members', 200);
    else if (type === 'job') onJobEvent(e);
    else if (type === 'job_end') {
      schedule('jobs', 100);
      if (state.selected === e.job) schedule('selected', 100);
    } else if (type === 'failure') onFailureEvent();
  }

  async function readEvents() {
    const response = await fetch('/api/events', { headers: headers(), cache: 'no-store' });
    if (response.status === 401) throw new Unauthorized('/api/events');
    if (!response.ok || !response.body) throw new Error('events: HTTP ' + response.status);
    eventsLive = true;
    eventDelayMs = 1000;
    setConn('live', 'live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      if (buffer.length > LIMITS.eventBufferBytes) buffer = '';  // hostile or broken: drop it
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        let type = 'message', data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) dispatch(type, data.join('\n'));
      }
    }
  }

  function followEvents() {
    readEvents().catch((err) => {
      if (err instanceof Unauthorized) return askToken();
    }).finally(() => {
      eventsLive = false;
      if (!$('auth').hidden) return;
      setConn('polling', 'polling');
      setTimeout(followEvents, eventDelayMs);
      eventDelayMs = Math.min(eventDelayMs * 2, LIMITS.eventRetryMaxMs);
    });
  }

  // ---- the loop --------------------------------------------------------------------------

  const timers = {};
  const loaders = {
    members: loadMembers,
    jobs: loadJobs,
    selected: loadSelected,
  };

  function report(err) {
    if (err instanceof Unauthorized) askToken();
    else setConn('error', String(err.message || err));
  }

  // Runs a loader once soon (events coalesce: a burst costs one request).
  function schedule(name, delayMs) {
    if (timers[name]) return;
    timers[name] = setTimeout(() => {
      timers[name] = null;
      loaders[name]().then(markReady).catch(report);
    }, delayMs);
  }

  function markReady() {
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    if (!eventsLive && $('conn').dataset.state !== 'token') setConn('polling', 'polling');
    if (state.rendered.members && state.rendered.jobs) document.body.dataset.ready = '1';
  }

  function every(ms, fn) {
    setInterval(() => {
      if (!$('auth').hidden || document.hidden) return;
      fn().then(markReady).catch(report);
    }, ms);
  }

  function start() {
    $('auth').hidden = true;
    return Promise.all([loadMembers(), loadJobs()]).then(markReady).then(followEvents).catch(report);
  }

  function init() {
    $('auth-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('token').value = '';
      start();
    });
    $('jobs').tBodies[0].addEventListener('click', (event) => {
      const tr = event.target.closest('tr[data-job]');
      if (tr) select(Number(tr.dataset.job));
    });
    $('jobs-prev').addEventListener('click', () => { state.page--; renderJobs(); });
    $('jobs-next').addEventListener('click', () => { state.page++; renderJobs(); });
    $('timeline').addEventListener('mousemove', onTimelinePointer);
    window.addEventListener('resize', drawTimeline);
    setupChart();
    every(LIMITS.pollMs, loadMembers);
    // The job list is the heaviest read (the node's journal): with the event stream live,
    // progress comes from it and the list is read only every few polls.
    let jobPolls = 0;
    every(LIMITS.jobsPollMs, () => (!eventsLive || ++jobPolls % LIMITS.jobsPollsWhenLive === 0 ? loadJobs() : Promise.resolve()));
    every(LIMITS.timelinePollMs, followSelected);
    start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
