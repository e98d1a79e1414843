'use strict';
const POLL_MS = 2000, WINDOW_MS = 5 * 60 * 1000, MAX_ROWS = 200;
const SERIES = [
  { key: 'publish', label: 'publish', color: '#2f6fde' },
  { key: 'deliver_get', label: 'deliver', color: '#1a9e5a' },
  { key: 'ack', label: 'ack', color: '#d9822b' },
];
const state = { samples: [], lastOverview: null, lastPartitions: null, authFailed: false };
const $ = (id) => document.getElementById(id);
const DASH = '—';

// ---- credentials: URL fragment, then sessionStorage, then the form ----
function loadCredentials() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (hash.has('user') || hash.has('password')) {
    sessionStorage.setItem('broker.user', hash.get('user') || 'guest');
    sessionStorage.setItem('broker.password', hash.get('password') || '');
    // Do not leave a password in the address bar or the history.
    try { history.replaceState(null, '', location.pathname + location.search); } catch (e) {}
  }
  $('user').value = sessionStorage.getItem('broker.user') || 'guest';
  $('password').value = sessionStorage.getItem('broker.password') || '';
}
function authHeader() {
  const user = sessionStorage.getItem('broker.user') || $('user').value || 'guest';
  const password = sessionStorage.getItem('broker.password') || '';
  const bytes = new TextEncoder().encode(user + ':' + password);
  let binary = '';
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return 'Basic ' + btoa(binary);
}
$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem('broker.user', $('user').value);
  sessionStorage.setItem('broker.password', $('password').value);
  state.authFailed = false;
  poll();
});

// ---- fetching: null on any failure, never a throw ----
async function getJSON(path, withAuth, acceptStatus) {
  try {
    const headers = withAuth ? { Authorization: authHeader() } : {};
    // credentials 'omit': a 401 then never opens the browser's own login prompt (which
    // would hold the fetch, and the poll loop, until dismissed); the header still goes.
    const response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    if (response.status === 401 && withAuth) state.authFailed = true;
    if (!response.ok && !(acceptStatus || []).includes(response.status)) return null;
    return await response.json();
  } catch (e) {
    return null;
  }
}

// ---- formatting ----
const isNum = (x) => typeof x === 'number' && isFinite(x);
function fmt(x, digits) {
  if (!isNum(x)) return DASH;
  return x.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 0 : digits });
}
function fmtBytes(x) {
  if (!isNum(x)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return x.toFixed(i ? 1 : 0) + ' ' + units[i];
}
function cell(row, text, numeric) {
  const td = document.createElement('td');
  td.textContent = text;
  if (numeric) td.className = 'n';
  row.appendChild(td);
  return td;
}
function fillTable(id, items, columns, rowAttrs) {
  const body = $(id).querySelector('tbody');
  body.textContent = '';
  if (!Array.isArray(items)) {
    const tr = body.insertRow(); const td = cell(tr, DASH); td.colSpan = columns; td.className = 'empty';
    return;
  }
  if (items.length === 0) {
    const tr = body.insertRow(); const td = cell(tr, 'none'); td.colSpan = columns; td.className = 'empty';
    return;
  }
  return body;
}

// ---- canvas helpers ----
function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 200;
  canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = '11px system-ui, sans-serif';
  return { g, width, height };
}
function niceMax(x) {
  if (!(x > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  // Maxima that split into four round ticks.
  for (const m of [1, 1.2, 2, 2.4, 4, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}
function noData(g, width, height, text) {
  g.fillStyle = '#6b7385'; g.textAlign = 'center';
  g.fillText(text, width / 2, height / 2);
}

// ---- rates chart ----
function recordRates(overview, clock) {
  const stats = overview && overview.message_stats;
  if (!stats) return;
  const previous = state.lastOverview, now = clock.t;
  state.lastOverview = { clock, stats };
  // Samples on two different clocks do not mix: start again.
  if (previous && previous.clock.source !== clock.source) { state.samples = []; return; }
  if (!previous) return;  // the first poll is the baseline
  const dt = (now - previous.clock.t) / 1000;
  const sample = { t: now };
  for (const s of SERIES) {
    const details = stats[s.key + '_details'];
    if (isNum(stats[s.key]) && isNum(previous.stats[s.key]) && dt > 0)
      sample[s.key] = Math.max(0, (stats[s.key] - previous.stats[s.key]) / dt);
    else if (details && isNum(details.rate)) sample[s.key] = Math.max(0, details.rate);
    else sample[s.key] = null;
  }
  state.samples.push(sample);
  while (state.samples.length && state.samples[0].t < now - WINDOW_MS) state.samples.shift();
}
function drawRates() {
  const canvas = $('rate-chart');
  const { g, width, height } = prepare(canvas);
  const samples = state.samples;
  const legend = $('rate-legend');
  legend.textContent = '';
  const last = samples[samples.length - 1] || {};
  for (const s of SERIES) {
    const span = document.createElement('span');
    span.innerHTML = '<i class="swatch"></i>' + s.label + ' <b></b>';
    span.querySelector('i').style.background = s.color;
    span.querySelector('b').textContent = fmt(last[s.key], 1) + '/s';
    span.id = 'rate-' + s.label;
    legend.appendChild(span);
  }
  canvas.dataset.points = String(samples.length);
  const left = 48, right = width - 14, top = 8, bottom = height - 20;
  let max = 0;
  for (const p of samples) for (const s of SERIES) if (isNum(p[s.key])) max = Math.max(max, p[s.key]);
  max = niceMax(max);
  g.strokeStyle = '#e3e6eb'; g.fillStyle = '#6b7385'; g.lineWidth = 1; g.textAlign = 'right';
  for (let i = 0; i <= 4; i++) {
    const y = bottom - (bottom - top) * i / 4;
    g.beginPath(); g.moveTo(left, y + .5); g.lineTo(right, y + .5); g.stroke();
    g.fillText(fmt(max * i / 4, 1), left - 6, y + 4);
  }
  // The time axis grows with the data, up to the 5-minute window.
  const span = samples.length ? Math.min(WINDOW_MS, Math.max(2 * POLL_MS, last.t - samples[0].t)) : WINDOW_MS;
  g.textAlign = 'center';
  for (let i = 0; i <= 5; i++) {
    const x = right - (right - left) * i / 5, ago = span * i / 5 / 1000;
    g.fillText(i === 0 ? 'now' : ago >= 120 ? '-' + fmt(ago / 60, 1) + 'm' : '-' + fmt(ago, ago < 10 ? 1 : 0) + 's', x, height - 4);
  }
  if (samples.length < 2) { noData(g, width, height, samples.length ? 'collecting…' : 'no data yet'); return; }
  const end = last.t;
  const xOf = (t) => right - (right - left) * (end - t) / span;
  const yOf = (v) => bottom - (bottom - top) * v / max;
  g.lineJoin = 'round';
  // Widest first: equal rates (every message acked as published) stay visible as layers.
  SERIES.forEach((s, i) => {
    g.lineWidth = [4, 2.5, 1.25][i]; g.strokeStyle = s.color; g.beginPath();
    let drawing = false;
    for (const p of samples) {
      if (!isNum(p[s.key])) { drawing = false; continue; }
      const x = xOf(p.t), y = yOf(p[s.key]);
      if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
      drawing = true;
    }
    g.stroke();
  });
}

// ---- partitions ----
function partitionRows(partitions, clock) {
  const previous = state.lastPartitions;
  state.lastPartitions = Array.isArray(partitions) ? { clock, byId: new Map(partitions.map((p) => [p.partition, p])) } : null;
  if (!Array.isArray(partitions)) return null;
  const comparable = previous && previous.clock.source === clock.source;
  return partitions.map((p) => {
    const before = comparable && previous.byId.get(p.partition);
    const dt = comparable ? (clock.t - previous.clock.t) / 1000 : 0;
    let rate = null, cpu = null;
    if (before && dt > 0) {
      if (isNum(p.enqueued) && isNum(before.enqueued) && isNum(p.delivered) && isNum(before.delivered))
        rate = Math.max(0, (p.enqueued - before.enqueued + p.delivered - before.delivered) / dt);
      if (isNum(p.cpu_seconds) && isNum(before.cpu_seconds))
        cpu = Math.max(0, 100 * (p.cpu_seconds - before.cpu_seconds) / dt);
    }
    const messages = isNum(p.messages_ready) ? p.messages_ready + (p.messages_unacknowledged || 0) : null;
    return { p, rate, cpu, messages };
  });
}
function drawPartitions(rows) {
  const canvas = $('partition-chart');
  const { g, width, height } = prepare(canvas);
  canvas.dataset.partitions = rows ? String(rows.length) : '0';
  canvas.dataset.points = rows ? String(rows.filter((r) => isNum(r.rate) || isNum(r.cpu)).length) : '0';
  if (!rows || rows.length === 0) { noData(g, width, height, rows ? 'no workers' : DASH); return; }
  const groups = [
    { title: 'messages (ready + unacked)', key: 'messages', color: '#2f6fde', unit: '' },
    { title: 'msg/s (in + out)', key: 'rate', color: '#1a9e5a', unit: '' },
    { title: 'CPU %', key: 'cpu', color: '#c2410c', unit: '%' },
  ];
  const groupWidth = width / groups.length, top = 44, bottom = height - 18;
  groups.forEach((group, gi) => {
    const x0 = gi * groupWidth + 10, w = groupWidth - 20;
    const values = rows.map((r) => r[group.key]);
    const max = niceMax(Math.max(0, ...values.filter(isNum)));
    g.fillStyle = '#1d2330'; g.textAlign = 'left'; g.fillText(group.title, x0, 12);
    g.fillStyle = '#6b7385'; g.fillText('max ' + fmt(max, 1) + group.unit, x0, 25);
    g.strokeStyle = '#e3e6eb'; g.beginPath(); g.moveTo(x0, bottom + .5); g.lineTo(x0 + w, bottom + .5); g.stroke();
    const slot = w / rows.length, bar = Math.min(46, slot * 0.7);
    rows.forEach((r, i) => {
      const x = x0 + slot * i + (slot - bar) / 2, v = values[i];
      g.textAlign = 'center'; g.fillStyle = '#6b7385';
      g.fillText('w' + r.p.partition, x + bar / 2, height - 4);
      if (!r.p.up) { g.fillStyle = '#c62828'; g.fillText('down', x + bar / 2, bottom - 4); return; }
      if (!isNum(v)) { g.fillText(DASH, x + bar / 2, bottom - 4); return; }
      const h = Math.max(1, (bottom - top) * v / max);
      g.fillStyle = group.color; g.fillRect(x, bottom - h, bar, h);
      g.fillStyle = '#1d2330'; g.fillText(fmt(v, v < 10 ? 1 : 0), x + bar / 2, Math.max(top - 2, bottom - h - 3));
    });
  });
}
function renderPartitionTable(rows) {
  const body = fillTable('partition-table', rows, 8);
  if (!body) return;
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.partition = String(r.p.partition);
    cell(tr, r.p.process || ('worker-' + r.p.partition));
    const pill = document.createElement('span');
    pill.className = 'pill ' + (r.p.up ? 'up' : 'down'); pill.textContent = r.p.up ? 'up' : 'down';
    cell(tr, '').appendChild(pill);
    cell(tr, fmt(r.p.queues), true); cell(tr, fmt(r.p.messages_ready), true);
    cell(tr, fmt(r.p.messages_unacknowledged), true); cell(tr, fmt(r.rate, 1), true);
    cell(tr, fmt(r.cpu, 1), true); cell(tr, fmtBytes(r.p.resident_bytes), true);
  }
}

// ---- tables and totals ----
function renderQueues(queues) {
  const body = fillTable('queue-table', queues, 7);
  if (!body) return;
  const sorted = queues.slice().sort((a, b) => (a.vhost + '\u0000' + a.name).localeCompare(b.vhost + '\u0000' + b.name));
  for (const q of sorted.slice(0, MAX_ROWS)) {
    const tr = body.insertRow();
    tr.dataset.queue = q.name; tr.dataset.vhost = q.vhost;
    cell(tr, q.name === '' ? '(default)' : q.name); cell(tr, q.vhost);
    cell(tr, fmt(q.partition), true); cell(tr, fmt(q.messages_ready), true);
    cell(tr, fmt(q.messages_unacknowledged), true); cell(tr, fmt(q.messages), true);
    cell(tr, fmt(q.consumers), true);
  }
  if (sorted.length > MAX_ROWS) {
    const td = cell(body.insertRow(), '… and ' + (sorted.length - MAX_ROWS) + ' more'); td.colSpan = 7; td.className = 'empty';
  }
}
function renderConnections(connections) {
  const body = fillTable('connections-table', connections, 4);
  if (!body) return;
  for (const c of connections.slice(0, MAX_ROWS)) {
    const tr = body.insertRow();
    tr.dataset.connection = c.name;
    cell(tr, c.name); cell(tr, c.user === undefined ? DASH : c.user);
    cell(tr, c.peer_host === undefined ? DASH : c.peer_host + (isNum(c.peer_port) ? ':' + c.peer_port : ''));
    cell(tr, fmt(Array.isArray(c.channels) ? c.channels.length : c.channels), true);
  }
}
function renderTotals(overview, health) {
  const o = (overview && overview.object_totals) || {}, q = (overview && overview.queue_totals) || {};
  const processes = health && Array.isArray(health.processes) ? health.processes : null;
  const up = processes ? processes.filter((p) => p.status === 'up').length : null;
  const cards = [
    ['connections', fmt(o.connections)], ['channels', fmt(o.channels)], ['consumers', fmt(o.consumers)],
    ['exchanges', fmt(o.exchanges)], ['queues', fmt(o.queues)], ['ready', fmt(q.messages_ready)],
    ['unacked', fmt(q.messages_unacknowledged)], ['processes up', processes ? up + ' / ' + processes.length : DASH],
  ];
  const box = $('totals');
  box.textContent = '';
  for (const [k, v] of cards) {
    const card = document.createElement('div');
    card.className = 'card'; card.dataset.total = k;
    card.innerHTML = '<div class="v"></div><div class="k"></div>';
    card.querySelector('.v').textContent = v; card.querySelector('.k').textContent = k;
    box.appendChild(card);
  }
}
function renderHealth(health) {
  const list = $('health-list');
  list.textContent = '';
  const status = $('status');
  let label, cls;
  if (!health) { label = 'unreachable'; cls = 'unreachable'; }
  else if (state.authFailed) { label = 'sign in'; cls = 'auth'; }
  else { label = health.status === 'ok' ? 'healthy' : 'degraded'; cls = health.status === 'ok' ? 'ok' : 'degraded'; }
  status.textContent = label; status.className = 'pill ' + cls; status.dataset.state = cls;
  if (!health || !Array.isArray(health.processes)) { const li = document.createElement('li'); li.textContent = DASH; list.appendChild(li); return; }
  for (const p of health.processes) {
    const li = document.createElement('li');
    li.dataset.process = p.process;
    const pill = document.createElement('span');
    pill.className = 'pill ' + (p.status === 'up' ? 'up' : 'down'); pill.textContent = p.status;
    li.append(p.process + ' ', pill);
    if (p.error) li.title = p.error;
    list.appendChild(li);
  }
}

// ---- the poll loop: one failing part never stops the others or the loop ----
function safely(f) { try { f(); } catch (e) { if (window.console) console.error(e); } }
let timer = null;
async function poll() {
  if (timer) { clearTimeout(timer); timer = null; }
  state.authFailed = false;
  const [overview, partitions, queues, connections, health] = await Promise.all([
    getJSON('/api/overview', true), getJSON('/api/partitions', true), getJSON('/api/queues', true),
    getJSON('/api/connections', true), getJSON('/health', false, [503]),
  ]);
  // The poll's time: the router's stamp on /api/partitions, else the browser's clock.
  const stamp = Array.isArray(partitions) && partitions.length ? partitions[0].timestamp : undefined;
  const clock = isNum(stamp) ? { source: 'router', t: stamp } : { source: 'browser', t: Date.now() };
  const now = Date.now();
  safely(() => { recordRates(overview, clock); drawRates(); });
  safely(() => { const rows = partitionRows(partitions, clock); drawPartitions(rows); renderPartitionTable(rows); });
  safely(() => renderQueues(queues));
  safely(() => renderConnections(connections));
  safely(() => renderTotals(overview, health));
  safely(() => renderHealth(health));
  safely(() => { $('updated').textContent = 'updated ' + new Date(now).toLocaleTimeString(); });
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  // One timer at most, even when a sign-in poll overlaps a scheduled one.
  if (timer) clearTimeout(timer);
  timer = setTimeout(poll, POLL_MS);
}
window.addEventListener('resize', () => safely(drawRates));
loadCredentials();
poll();
