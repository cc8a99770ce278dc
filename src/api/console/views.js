// The three views: Overview, Jobs (running job, history, a job's details and
// failed files, Run Recovery Test Now) and Vault (recovery points per day, storage, growth).
import {get, post} from './api.js';
import {button, calendar, clear, errorPanel, formatBytes, formatDuration, formatTime, h, showError,
  stateBadge} from './ui.js';

const jobStart = (job) => new Date(Number(job.start_ns) / 1e6);
const jobSeconds = (job) => job.end_ns && job.start_ns ? (Number(job.end_ns) - Number(job.start_ns)) / 1e9 : 0;
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function describeSchedule(policy) {
  if (!policy || !policy.schedule) return 'No backup is scheduled.';
  const days = (policy.schedule.days || []).slice().sort();
  const names = days.length === 7 ? 'Every day' : days.map((d) => DAY_NAMES[d]).join(', ');
  return `${names} at ${(policy.schedule.times || []).join(', ')}` + (policy.paused ? ' (paused)' : '');
}

// The policy's restore drill: "Sunday at 03:00, 100 files".
function describeRecoveryTest(policy) {
  const drill = policy && policy.recovery_test;
  if (!drill) return 'Not scheduled';
  const days = (drill.days || []).slice().sort();
  const names = days.length === 7 ? 'Every day' : days.map((d) => DAY_NAMES[d]).join(', ');
  const sample = drill.sample_percent > 0 ? `${drill.sample_percent} % of the files` : `${drill.sample_files} files`;
  return `${names} at ${(drill.times || []).join(', ')}, ${sample}` + (policy.paused ? ' (paused)' : '');
}

function summaryList(rows) {
  return h('dl', {class: 'summary'}, rows.map(([k, v, testid]) => [h('dt', {text: k}), h('dd', {testid}, v)]));
}

// --- Overview ---
export function renderOverview(section, status) {
  const registered = !!status.registered;
  const running = status.running;
  const last = status.last_job;
  clear(section,
      h('h1', {text: 'Overview'}),
      registered ? null : h('div', {class: 'banner', testid: 'not-registered'},
          h('strong', {text: 'This server is not registered. '}),
          'Register it with a vault (Actions › Register Server) before backing up.'),
      h('div', {class: 'cards'},
          h('div', {class: 'card'}, h('h2', {text: 'This server'}), summaryList([
            ['Machine', status.machine_name || '—', 'overview-machine'],
            ['Vault', status.vault_name || status.vault || '—', 'overview-vault'],
            ['Scratch folder', h('span', {class: 'mono', text: status.scratch_dir || '—'})],
          ])),
          h('div', {class: 'card'}, h('h2', {text: 'Backup schedule'}), summaryList([
            ['Schedule', describeSchedule(status.policy), 'overview-schedule'],
            ['Items', status.policy ? (status.policy.specs || []).filter((s) => !s.exclude).map((s) => h('div', {class: 'mono', text: s.path})) : '—'],
            ['Next backup', status.next_run ? formatTime(status.next_run) : '—', 'overview-next'],
            ['Scheduler', status.scheduler || '—'],
            ['Recovery test', describeRecoveryTest(status.policy), 'overview-recovery-test'],
          ])),
          h('div', {class: 'card'}, h('h2', {text: 'Jobs'}), summaryList([
            ['Running', running ? `${running.job.type} (${runningSummary(running)})` : 'No job is running', 'overview-running'],
            ['Last job', last ? h('span', {}, `${last.type} · ${formatTime(jobStart(last))} `, stateBadge(last.state)) : '—', 'overview-last'],
          ]))));
}

// The engine computes percent, rate and ETA (engine::EstimateProgress, the
// same arithmetic as obctl's progress line); percent is null while the total
// is unknown (a first backup).
const knownPercent = (p) => p && typeof p.percent === 'number';

function runningSummary(run) {
  const p = run.progress || {};
  if (knownPercent(p)) return `${p.percent} %`;
  return `${formatBytes(p.bytes_done)} ${run.job.type === 'Backup' ? 'in the vault' : 'written'}`;
}

// --- Jobs ---
export class JobsView {
  constructor(section) {
    this.section = section;
    this.running = h('div', {class: 'card running', testid: 'running-job'});
    this.history = h('div', {class: 'card'});
    this.details = h('div', {class: 'card job-details', testid: 'job-details', hidden: true});
    this.error = h('div');
    this.runningId = null;
    // The restore drill of the latest recovery point (the policy's sample,
    // else 100 files): restored to a private folder, compared, removed.
    const drill = button('Run recovery test now', async () => {
      drill.disabled = true;
      this.error.replaceChildren();
      try {
        await post('/api/recovery-test');
        await this.loadHistory();
      } catch (e) {
        showError(this.error, e);
      }
      drill.disabled = false;
    }, {testid: 'run-recovery-test'});
    clear(section, h('div', {class: 'view-head'}, h('h1', {text: 'Jobs'}), drill), this.error,
        this.running, this.history, this.details);
    this.showRunning(null);
  }

  // Called with every /api/status poll: a job that started or ended since
  // the last poll reloads the history (a short job may start and end between
  // two polls, so the last job is compared too).
  update(status) {
    const last = status.last_job ? `${status.last_job.id}:${status.last_job.state}` : '';
    if (last !== this.lastJobKey) {
      const first = this.lastJobKey === undefined;
      this.lastJobKey = last;
      if (!first) this.loadHistory();
    }
    this.showRunning(status.running);
  }

  showRunning(run) {
    const id = run ? run.job.id : null;
    if (id !== this.runningId) {
      const finished = this.runningId !== null;
      this.runningId = id;
      if (finished) this.loadHistory();
    }
    if (!run) {
      clear(this.running, h('h2', {text: 'Running job'}),
          h('p', {class: 'muted', testid: 'no-running-job', text: 'No job is running.'}));
      return;
    }
    const p = run.progress || {};
    const backup = run.job.type === 'Backup';
    // The bar follows bytes_done: for a backup the source bytes safe in the
    // vault (reading runs ahead of the upload and is shown beside it), for
    // a recovery the bytes written. The rate and ETA are the engine's: the
    // recent rate of bytes_done and the time what remains (to upload) takes
    // at it. Without a total (only a machine's first backup) the bar is
    // indeterminate; before the job's first report nothing is known yet.
    const reported = Number(p.elapsed_seconds) > 0;
    const known = knownPercent(p);
    const pct = known ? p.percent : 0;
    const rate = Number(p.bytes_per_second) || 0;
    const bar = h('progress', {max: '100', value: known ? String(pct) : null, id: 'job-progress',
      testid: 'job-progress', 'data-known': known ? 'true' : 'false', 'aria-label': 'Job progress'});
    const stop = button('Stop', async () => {
      stop.disabled = true;
      try {
        await post(`/api/jobs/${encodeURIComponent(run.job.id)}/stop`);
      } catch (e) {
        showError(this.error, e);
        stop.disabled = false;
      }
    }, {testid: 'job-stop'});
    clear(this.running,
        h('h2', {}, 'Running job: ', run.job.type, ' ', h('span', {class: 'muted', text: run.trigger ? `(${run.trigger})` : ''})),
        h('div', {class: 'progress-row'}, bar,
            h('span', {class: 'progress-pct', testid: 'job-percent', text: known ? `${pct} %` : '—'})),
        h('div', {class: 'progress-facts'},
            h('span', {testid: 'job-bytes', 'data-bytes': String(p.bytes_done || 0), text: backup
              ? (Number(p.bytes_total) > 0
                ? `${formatBytes(p.bytes_done)} of about ${formatBytes(p.bytes_total)} in the vault`
                : `${formatBytes(p.bytes_done)} in the vault${reported ? ' (size not known before the first backup)' : ''}`)
              : `${formatBytes(p.bytes_done)}${Number(p.bytes_total) > 0 ? ` of ${formatBytes(p.bytes_total)}` : ''} written`}),
            backup ? h('span', {testid: 'job-read', 'data-bytes': String(p.bytes_read || 0),
              text: `${formatBytes(p.bytes_read)} read`}) : null,
            backup ? h('span', {testid: 'job-uploaded', 'data-bytes': String(p.bytes_uploaded || 0),
              text: `${formatBytes(p.bytes_uploaded)} uploaded`}) : null,
            h('span', {testid: 'job-rate', text: `${(rate / (1024 * 1024)).toFixed(1)} MB/s`}),
            typeof p.eta_seconds === 'number' ? h('span', {testid: 'job-eta', text: `ETA ${formatDuration(p.eta_seconds)}`}) : null,
            h('span', {testid: 'job-files', text: `${p.files_done || 0}${Number(p.files_total) > 0 ? ` of ${p.files_total}` : ''} files`}),
            h('span', {text: `elapsed ${formatDuration(p.elapsed_seconds || 0)}`}),
            stop));
  }

  async loadHistory() {
    let jobs;
    try {
      jobs = await get('/api/jobs');
    } catch (e) {
      showError(this.error, e);
      return;
    }
    jobs = Array.isArray(jobs) ? jobs : jobs.jobs || [];
    const rows = jobs.map((job) => h('tr', {tabindex: '0', class: 'clickable', 'data-job': job.id, testid: 'job-row',
      'data-state': job.state, onclick: () => this.showJob(job.id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.showJob(job.id);
        }
      }},
    h('td', {text: job.type}), h('td', {}, stateBadge(job.state)), h('td', {text: formatTime(jobStart(job))}),
    h('td', {text: job.end_ns ? formatDuration(jobSeconds(job)) : '—'}), h('td', {class: 'num', text: job.files}),
    h('td', {class: 'num', text: formatBytes(job.bytes_scanned)}),
    h('td', {class: 'num', text: formatBytes(job.bytes_transferred)})));
    clear(this.history, h('h2', {text: 'History'}),
        jobs.length ? h('table', {class: 'table', testid: 'job-history'},
            h('thead', {}, h('tr', {}, ['Type', 'State', 'Started', 'Duration', 'Files', 'Bytes', 'Transferred']
                .map((t) => h('th', {scope: 'col', text: t})))),
            h('tbody', {}, rows)) : h('p', {class: 'muted', testid: 'no-jobs', text: 'No job has run yet.'}));
  }

  async showJob(id) {
    this.details.hidden = false;
    clear(this.details, h('p', {class: 'muted', text: 'Loading…'}));
    for (const row of this.history.querySelectorAll('tr[data-job]')) {
      row.classList.toggle('selected', row.dataset.job === id);
    }
    let answer;
    try {
      answer = await get(`/api/jobs/${encodeURIComponent(id)}`);
    } catch (e) {
      clear(this.details, await errorPanel(e));
      return;
    }
    const job = answer.job || answer;
    const failed = answer.failed_files || [];
    clear(this.details,
        h('h2', {}, `Job ${job.id} `, stateBadge(job.state)),
        summaryList([
          ['Type', job.type], ['Started', formatTime(jobStart(job))],
          ['Ended', job.end_ns ? formatTime(new Date(Number(job.end_ns) / 1e6)) : '—'],
          ['Duration', job.end_ns ? formatDuration(jobSeconds(job)) : '—'],
          ['Files', String(job.files)], ['Bytes scanned', formatBytes(job.bytes_scanned)],
          ['Bytes transferred', formatBytes(job.bytes_transferred)],
          ['Recovery point', job.recovery_point || '—'], ['Snapshot', job.snapshot || '—'],
          job.summary ? ['Result', h('span', {testid: 'job-summary', text: job.summary})] : null,
          job.error ? ['Error', h('span', {class: 'error-text', testid: 'job-error', text: job.error})] : null,
        ].filter(Boolean)),
        failed.length || job.state === 'CompletedWithWarnings' || job.state === 'Failed' ? [
          h('h3', {text: `Failed files (${failed.length})`}),
          failed.length ? h('table', {class: 'table', testid: 'failed-files'},
              h('thead', {}, h('tr', {}, ['Error code', 'Path', 'Message'].map((t) => h('th', {scope: 'col', text: t})))),
              h('tbody', {}, failed.map((f) => h('tr', {testid: 'failed-file'},
                  h('td', {class: 'mono', text: f.os_error}), h('td', {class: 'mono', text: f.path}),
                  h('td', {text: f.message})))))
            : h('p', {class: 'muted', text: 'No file was listed.'}),
        ] : null);
  }
}

// --- Vault ---
export async function renderVault(section) {
  clear(section, h('h1', {text: 'Vault'}), h('p', {class: 'muted', text: 'Loading…'}));
  let vault;
  try {
    vault = await get('/api/vault');
  } catch (e) {
    clear(section, h('h1', {text: 'Vault'}), await errorPanel(e));
    return;
  }
  const days = vault.days || {};
  const latest = Object.keys(days).sort().pop();
  const month = latest ? new Date(Number(latest.slice(0, 4)), Number(latest.slice(5, 7)) - 1, 1) : undefined;
  clear(section, h('h1', {text: 'Vault'}),
      h('div', {class: 'cards'},
          h('div', {class: 'card'}, h('h2', {text: 'Storage'}), summaryList([
            ['Storage used', formatBytes(vault.storage_bytes), 'vault-storage'],
            ['Recovery points', String(vault.points ?? 0), 'vault-points'],
            ['Oldest', Object.keys(days).sort()[0] || '—'],
            ['Latest', latest || '—'],
          ])),
          h('div', {class: 'card'}, h('h2', {text: 'Recovery points per day'}),
              calendar({counts: days, month, testid: 'vault-calendar'}))),
      h('div', {class: 'card'}, h('h2', {text: 'Storage over time'}), growthChart(vault.growth || [])));
}

// An SVG line chart of stored bytes over time (built with DOM calls: no
// library, no inline styles).
export function growthChart(points) {
  if (points.length === 0) return h('p', {class: 'muted', testid: 'growth-empty', text: 'No recovery point yet.'});
  const W = 640, H = 220, L = 70, R = 16, T = 12, B = 34;
  const xs = points.map((p) => new Date(p.time).getTime());
  const ys = points.map((p) => Number(p.stored_bytes) || 0);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) {
    x0 -= 3600e3;
    x1 += 3600e3;
  }
  const yMax = Math.max(...ys) * 1.1 || 1;
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => T + (1 - y / yMax) * (H - T - B);
  const svg = h('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', testid: 'growth-chart',
    'aria-label': `Stored bytes over time: ${formatBytes(ys[ys.length - 1])} now`});
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    svg.append(h('line', {x1: L, x2: W - R, y1: Y(y), y2: Y(y), class: 'chart-grid'}),
        h('text', {x: L - 6, y: Y(y) + 4, class: 'chart-label', 'text-anchor': 'end'}, formatBytes(y)));
  }
  // Within two days the hour tells more than the date.
  const short = x1 - x0 < 2 * 86400e3;
  const label = (x) => new Date(x).toLocaleString(undefined, short
    ? {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'} : {month: 'short', day: 'numeric'});
  for (const [x, anchor] of [[x0, 'start'], [x1, 'end']]) {
    svg.append(h('text', {x: X(x), y: H - 10, class: 'chart-label', 'text-anchor': anchor}, label(x)));
  }
  const d = xs.map((x, i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(ys[i]).toFixed(1)}`).join(' ');
  const base = Y(0).toFixed(1);
  svg.append(h('path', {d: `${d} L${X(xs[xs.length - 1]).toFixed(1)},${base} L${X(xs[0]).toFixed(1)},${base} Z`,
    class: 'chart-area'}));
  svg.append(h('path', {d, class: 'chart-line', testid: 'growth-line'}));
  xs.forEach((x, i) => svg.append(h('circle', {cx: X(x), cy: Y(ys[i]), r: 3.5, class: 'chart-dot'},
      h('title', {}, `${formatTime(new Date(x))}: ${formatBytes(ys[i])}`))));
  return svg;
}
