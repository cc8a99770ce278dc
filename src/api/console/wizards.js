// The Actions pane's wizards: Register Server, Schedule Backup, Back Up Now,
// Recover Data, Change Properties and About.
import {get, post, put, query} from './api.js';
import {button, calendar, checkbox, clear, dateKey, errorPanel, field, formatBytes, formatTime, h,
  openDialog, openWizard, radio, tree, uid} from './ui.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MIN_PASSPHRASE = 16;

// --- passphrase: generate, strength, copy ---
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$%&*+-=?@_';

export function generatePassphrase(length = 24) {
  // Rejection sampling: every character equally likely.
  const out = [];
  const limit = 256 - (256 % ALPHABET.length);
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const b of bytes) {
      if (b < limit && out.length < length) out.push(ALPHABET[b % ALPHABET.length]);
    }
  }
  return out.join('');
}

export function passphraseStrength(p) {
  if (p.length < MIN_PASSPHRASE) return {score: 0, label: `Too short (${p.length} of ${MIN_PASSPHRASE} characters)`};
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((r) => r.test(p)).length;
  let score = 1;
  if (p.length >= 20) score++;
  if (classes >= 3) score++;
  if (p.length >= 32 || (classes === 4 && p.length >= 20)) score++;
  return {score, label: ['Too short', 'Fair', 'Good', 'Strong', 'Very strong'][score]};
}

function passphraseSection(state, {withCopy = true} = {}) {
  const pass = h('input', {type: 'password', autocomplete: 'new-password', value: state.passphrase || '',
    testid: 'passphrase', id: uid('pp')});
  const confirm = h('input', {type: 'password', autocomplete: 'new-password', value: state.passphraseConfirm || '',
    testid: 'passphrase-confirm', id: uid('pp')});
  const meter = h('meter', {min: '0', max: '4', low: '2', high: '3', optimum: '4', value: '0', testid: 'passphrase-meter',
    id: uid('m')});
  const meterText = h('span', {class: 'meter-text', testid: 'passphrase-strength'});
  const download = h('a', {class: 'download-link', testid: 'passphrase-download', download: 'obagent-passphrase.txt',
    href: '#', hidden: true, text: 'Download the passphrase as a text file'});
  const show = checkbox('Show passphrase', false, 'passphrase-show');
  const update = () => {
    state.passphrase = pass.value;
    state.passphraseConfirm = confirm.value;
    const s = passphraseStrength(pass.value);
    meter.value = s.score;
    meterText.textContent = s.label;
    if (download.href.startsWith('blob:')) URL.revokeObjectURL(download.href);
    download.hidden = pass.value.length < MIN_PASSPHRASE;
    if (!download.hidden) {
      download.href = URL.createObjectURL(new Blob([pass.value + '\n'], {type: 'text/plain'}));
    }
  };
  pass.addEventListener('input', update);
  confirm.addEventListener('input', update);
  show.input.addEventListener('change', () => {
    pass.type = confirm.type = show.input.checked ? 'text' : 'password';
  });
  const generate = button('Generate passphrase', () => {
    pass.value = confirm.value = generatePassphrase();
    show.input.checked = true;
    pass.type = confirm.type = 'text';
    update();
  }, {testid: 'passphrase-generate'});
  const copyPath = h('input', {type: 'text', value: state.passphraseCopyPath || '', testid: 'passphrase-copy-path',
    placeholder: '/root/obagent-passphrase.txt', oninput: (e) => (state.passphraseCopyPath = e.target.value)});
  update();
  return h('div', {class: 'passphrase'},
      h('p', {class: 'muted', text: `The passphrase encrypts your backups. It must have at least ${MIN_PASSPHRASE} ` +
        'characters. Keep it safe: without it nothing can be recovered, and it cannot be reset.'}),
      field('Passphrase', pass).row,
      field('Confirm passphrase', confirm).row,
      h('div', {class: 'inline'}, generate, show.row),
      h('div', {class: 'meter-row'}, h('label', {for: meter.id, text: 'Strength'}), meter, meterText),
      withCopy ? [
        field('Save a copy of the passphrase to (a path on this machine)', copyPath,
            'Written readable by the owner only. Choose a place other than the folders you back up, ideally removable media.').row,
        download,
      ] : null);
}

function checkPassphrase(state, {requireCopy}) {
  const p = state.passphrase || '';
  if (p.length < MIN_PASSPHRASE) return `The passphrase must have at least ${MIN_PASSPHRASE} characters (it has ${p.length}).`;
  if (p !== state.passphraseConfirm) return 'The passphrase and its confirmation differ.';
  if (requireCopy && !(state.passphraseCopyPath || '').trim() && !state.passphraseDownloaded) {
    return 'Give a path to save a copy of the passphrase, or download it with the link, before you go on.';
  }
  if ((state.passphraseCopyPath || '').trim() && !state.passphraseCopyPath.trim().match(/^(\/|[A-Za-z]:[\\/])/)) {
    return 'The path for the passphrase copy must be absolute.';
  }
  return null;
}

function readFileAsText(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

function credentialInput(state, testid) {
  const input = h('input', {type: 'file', accept: '.VaultCredentials,.xml,.txt,*/*', testid});
  const info = h('div', {class: 'hint', testid: testid + '-info',
    text: state.credentialsName ? `Loaded ${state.credentialsName}` : ''});
  input.addEventListener('change', async () => {
    const file = input.files[0];
    state.credentials = file ? await readFileAsText(file) : '';
    state.credentialsName = file ? file.name : '';
    info.textContent = file ? `Loaded ${file.name} (${formatBytes(file.size)})` : '';
  });
  return {input, info};
}

const isAbsolute = (p) => /^(\/|[A-Za-z]:[\\/])/.test(p);

// --- Register Server ---
export function openRegister(ctx) {
  const state = {mode: 'credentials', useProxy: false};
  openWizard({
    title: 'Register Server Wizard', testid: 'wizard-register', state,
    steps: [
      {
        title: 'Vault Identification',
        render: () => {
          const cred = credentialInput(state, 'reg-credentials-file');
          const folder = h('input', {type: 'text', value: state.vault || '', testid: 'reg-vault-folder',
            placeholder: '/srv/backup-vault', oninput: (e) => (state.vault = e.target.value)});
          const byFile = radio('reg-mode', 'credentials', 'Vault credentials file (downloaded from the vault service)',
              state.mode === 'credentials', 'reg-mode-credentials');
          const byFolder = radio('reg-mode', 'folder', 'A vault folder on this machine or a mounted share',
              state.mode === 'folder', 'reg-mode-folder');
          const credBox = h('div', {class: 'indent'}, field('Vault credentials file', cred.input).row, cred.info);
          const folderBox = h('div', {class: 'indent'}, field('Vault folder', folder).row);
          const sync = () => {
            state.mode = byFolder.input.checked ? 'folder' : 'credentials';
            credBox.hidden = state.mode !== 'credentials';
            folderBox.hidden = state.mode !== 'folder';
          };
          byFile.input.addEventListener('change', sync);
          byFolder.input.addEventListener('change', sync);
          sync();
          return h('fieldset', {}, h('legend', {text: 'Where are backups kept?'}), byFile.row, credBox, byFolder.row, folderBox);
        },
        next: () => {
          if (state.mode === 'credentials' && !state.credentials) return 'Choose the vault credentials file.';
          if (state.mode === 'folder' && !isAbsolute((state.vault || '').trim())) return 'Give the vault folder as an absolute path.';
          return null;
        },
      },
      {
        title: 'Proxy Configuration',
        render: () => {
          const use = checkbox('Use a proxy server to reach the vault', state.useProxy, 'reg-proxy-use');
          const url = h('input', {type: 'text', value: state.proxy || '', placeholder: 'http://proxy.example:3128',
            testid: 'reg-proxy-url', oninput: (e) => (state.proxy = e.target.value)});
          const user = h('input', {type: 'text', value: state.proxyUser || '', testid: 'reg-proxy-user',
            autocomplete: 'off', oninput: (e) => (state.proxyUser = e.target.value)});
          const pw = h('input', {type: 'password', value: state.proxyPassword || '', testid: 'reg-proxy-password',
            autocomplete: 'off', oninput: (e) => (state.proxyPassword = e.target.value)});
          const box = h('div', {class: 'indent'}, field('Proxy address', url).row,
              field('User name (optional)', user).row, field('Password (optional)', pw).row);
          const sync = () => {
            state.useProxy = use.input.checked;
            box.hidden = !state.useProxy;
          };
          use.input.addEventListener('change', sync);
          sync();
          return h('div', {}, h('p', {class: 'muted', text: 'Only needed when this server reaches the vault through a proxy.'}),
              use.row, box);
        },
        next: () => {
          if (!state.useProxy) return null;
          if (!/^https?:\/\/[^/:]+:\d+\/?$/.test((state.proxy || '').trim())) return 'Give the proxy as http://HOST:PORT.';
          if (state.proxyPassword && !state.proxyUser) return 'A proxy password needs a user name.';
          return null;
        },
      },
      {
        title: 'Encryption Setting',
        render: () => {
          const section = passphraseSection(state);
          section.querySelector('[data-testid=passphrase-download]').addEventListener('click', () => {
            state.passphraseDownloaded = true;
          });
          return section;
        },
        next: () => checkPassphrase(state, {requireCopy: true}),
      },
    ],
    finishText: 'Register',
    finish: async () => {
      const body = {passphrase: state.passphrase};
      if (state.mode === 'credentials') body.credentials = state.credentials;
      else body.vault = state.vault.trim();
      if (state.useProxy) {
        body.proxy = state.proxy.trim();
        if (state.proxyUser) body.proxy_user = state.proxyUser;
        if (state.proxyPassword) body.proxy_password = state.proxyPassword;
      }
      if ((state.passphraseCopyPath || '').trim()) body.passphrase_copy_path = state.passphraseCopyPath.trim();
      const answer = await post('/api/register', body);
      ctx.refresh();
      return h('div', {class: 'done', testid: 'register-done'},
          h('p', {class: 'success', text: 'This server is registered.'}),
          h('dl', {class: 'summary'}, h('dt', {text: 'Machine'}), h('dd', {text: answer.machine_name}),
              h('dt', {text: 'Vault'}), h('dd', {text: answer.vault_name})),
          h('p', {class: 'muted', text: 'Next: Schedule Backup chooses what to back up and when.'}));
    },
  });
}

// --- Schedule Backup ---
const under = (path, ancestor) => path === ancestor ||
  path.startsWith(ancestor.endsWith('/') ? ancestor : ancestor + '/');
const hasGlob = (p) => /[*?[]/.test(p.split('/').pop());
const joinPath = (dir, name) => (dir.endsWith('/') ? dir : dir + '/') + name;

export async function openSchedule(ctx) {
  let policy = null;
  try {
    policy = await get('/api/policy');
  } catch (e) {
    if (e.status !== 404) {
      openDialog({title: 'Schedule Backup', testid: 'wizard-schedule', body: await errorPanel(e),
        buttons: [button('Close', (ev) => ev.target.closest('dialog').close())]});
      return;
    }
  }
  // selection: path -> 'include' | 'exclude' (folders and files picked in the tree)
  const selection = new Map();
  const patterns = new Set();
  for (const s of policy?.specs || []) {
    if (s.exclude && hasGlob(s.path)) patterns.add(s.path.split('/').pop());
    else selection.set(s.path, s.exclude ? 'exclude' : 'include');
  }
  const state = {
    days: new Set(policy?.schedule?.days ?? [1, 2, 3, 4, 5]),
    times: policy?.schedule?.times?.slice() ?? ['21:00'],
    retention: {daily_days: 7, weekly_weeks: 4, monthly_months: 12, yearly_years: 0, ...(policy?.retention || {})},
    patterns: [...patterns].join('\n'),
  };
  const nearest = (path) => {
    let best = null;
    for (const p of selection.keys()) if (under(path, p) && (!best || p.length > best.length)) best = p;
    return best;
  };
  const isChecked = (path) => {
    const n = nearest(path);
    return n !== null && selection.get(n) === 'include';
  };
  const dropBelow = (path) => {
    for (const p of [...selection.keys()]) if (p !== path && under(p, path)) selection.delete(p);
  };
  const toggle = (entry, checked) => {
    dropBelow(entry.path);
    selection.delete(entry.path);
    if (isChecked(entry.path) !== checked) selection.set(entry.path, checked ? 'include' : 'exclude');
  };
  const includes = () => [...selection].filter(([, k]) => k === 'include').map(([p]) => p).sort();
  const specs = () => {
    const out = [...selection].map(([path, kind]) => ({path, exclude: kind === 'exclude', recursive: true}));
    const pats = state.patterns.split('\n').map((s) => s.trim()).filter(Boolean);
    for (const inc of includes()) for (const pat of pats) out.push({path: joinPath(inc, pat), exclude: true, recursive: true});
    return out;
  };

  openWizard({
    title: 'Schedule Backup Wizard', testid: 'wizard-schedule', state,
    steps: [
      {
        title: 'Select Items to Back Up',
        render: () => {
          const t = tree({
            load: async (path) => (await get(query('/api/fs', {path}))).entries || [],
            isChecked, onToggle: toggle, testid: 'fs-tree',
          });
          const pats = h('textarea', {rows: '3', testid: 'sched-patterns', placeholder: '*.tmp\n*.bak',
            oninput: (e) => (state.patterns = e.target.value)});
          pats.value = state.patterns;
          return h('div', {},
              h('p', {class: 'muted', text: 'Tick folders and files to back up; untick an item inside a ticked folder to exclude it.'}),
              h('div', {class: 'tree-box'}, t.element),
              field('Exclude names matching (one pattern a line, e.g. *.tmp)', pats).row);
        },
        next: () => includes().length ? null : 'Select at least one folder or file to back up.',
      },
      {
        title: 'Specify Backup Schedule',
        render: () => {
          const days = DAYS.map((d, i) => {
            const c = checkbox(d, state.days.has(i), `sched-day-${i}`);
            c.input.addEventListener('change', () => (c.input.checked ? state.days.add(i) : state.days.delete(i)));
            return c.row;
          });
          const times = [0, 1, 2].map((i) => {
            const input = h('input', {type: 'time', value: state.times[i] || '', testid: `sched-time-${i + 1}`,
              oninput: (e) => (state.times[i] = e.target.value)});
            return field(i === 0 ? 'Back up at' : `and at (optional)`, input).row;
          });
          return h('div', {},
              h('fieldset', {}, h('legend', {text: 'On these days'}), h('div', {class: 'day-list'}, days)),
              h('fieldset', {}, h('legend', {text: 'At these times (up to three a day)'}), h('div', {class: 'time-list'}, times)));
        },
        next: () => {
          if (!state.days.size) return 'Select at least one day.';
          const t = state.times.filter(Boolean);
          if (!t.length) return 'Give at least one time.';
          if (new Set(t).size !== t.length) return 'The times must differ.';
          return null;
        },
      },
      {
        title: 'Select Retention Policy',
        render: () => {
          const num = (key, label, testid) => field(label, h('input', {type: 'number', min: '0', max: '9999',
            value: String(state.retention[key]), testid,
            oninput: (e) => (state.retention[key] = e.target.value === '' ? '' : Number(e.target.value))})).row;
          return h('div', {},
              h('p', {class: 'muted', text: 'How long recovery points are kept. 0 keeps none of that kind.'}),
              h('div', {class: 'grid2'},
                  num('daily_days', 'Daily points, days', 'ret-daily'),
                  num('weekly_weeks', 'Weekly points, weeks', 'ret-weekly'),
                  num('monthly_months', 'Monthly points, months', 'ret-monthly'),
                  num('yearly_years', 'Yearly points, years', 'ret-yearly')),
              field('Security PIN', h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off',
                value: state.securityPin || '', testid: 'ret-security-pin',
                oninput: (e) => (state.securityPin = e.target.value.trim())}),
              'Only to reduce the retention with a vault service: the PIN its administrator generated (valid 5 minutes).').row);
        },
        next: () => {
          for (const [k, v] of Object.entries(state.retention)) {
            if (!Number.isInteger(v) || v < 0) return `Give a whole number of 0 or more for ${k.replace('_', ' ')}.`;
          }
          if (state.retention.daily_days < 1) return 'Keep daily points for at least one day.';
          return null;
        },
      },
      {
        title: 'Confirmation',
        render: () => {
          const all = specs();
          return h('dl', {class: 'summary', testid: 'sched-summary'},
              h('dt', {text: 'Back up'}), h('dd', {}, all.filter((s) => !s.exclude).map((s) => h('div', {class: 'mono', text: s.path}))),
              h('dt', {text: 'Exclude'}), h('dd', {}, all.filter((s) => s.exclude).map((s) => h('div', {class: 'mono', text: s.path})).concat(
                  all.some((s) => s.exclude) ? [] : ['—'])),
              h('dt', {text: 'Schedule'}), h('dd', {text: `${[...state.days].sort().map((d) => DAYS[d]).join(', ')} at ${state.times.filter(Boolean).join(', ')}`}),
              h('dt', {text: 'Retention'}), h('dd', {text: `${state.retention.daily_days} days, ${state.retention.weekly_weeks} weeks, ` +
                `${state.retention.monthly_months} months, ${state.retention.yearly_years} years`}));
        },
      },
    ],
    finish: async () => {
      const body = {specs: specs(),
        schedule: {days: [...state.days].sort(), times: state.times.filter(Boolean)},
        retention: state.retention, paused: false};
      if (state.securityPin) body.security_pin = state.securityPin;
      await put('/api/policy', body);
      ctx.refresh();
      return h('p', {class: 'success', testid: 'schedule-done', text: 'The backup schedule is saved.'});
    },
  });
}

// --- Stop Protection ---
// Removes the schedule; with "delete data" the vault service soft-deletes
// this server's recovery points, which needs its Security PIN.
export function openStopProtection(ctx) {
  const state = {deleteData: false, pin: ''};
  openWizard({
    title: 'Stop Protection', testid: 'wizard-stop',
    state,
    steps: [{
      title: 'Stop protection',
      render: () => {
        const del = checkbox('Also delete the backup data in the vault', state.deleteData, 'stop-delete-data');
        const pin = h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', testid: 'stop-security-pin',
          oninput: (e) => (state.pin = e.target.value.trim())});
        const pinRow = field('Security PIN', pin, 'Deleting data needs the PIN the vault administrator generated (valid 5 minutes). ' +
          'The vault keeps deleted data for its soft-delete days; its administrator can bring it back.').row;
        const sync = () => {
          state.deleteData = del.input.checked;
          pinRow.hidden = !state.deleteData;
        };
        del.input.addEventListener('change', sync);
        sync();
        return h('div', {}, h('p', {text: 'Scheduled backups stop. Recovery points stay unless you delete them.'}), del.row, pinRow);
      },
      next: () => (state.deleteData && !/^\d{8}$/.test(state.pin) ? 'Give the 8-digit Security PIN to delete data.' : null),
    }],
    finishText: 'Stop protection',
    finish: async () => {
      const body = {delete_data: state.deleteData};
      if (state.deleteData) body.security_pin = state.pin;
      await post('/api/stop-protection', body);
      ctx.refresh();
      return h('p', {class: 'success', testid: 'stop-done',
        text: state.deleteData ? 'Protection stopped; the vault deleted this server\'s backup data (softly).' : 'Protection stopped.'});
    },
  });
}

// --- Back Up Now ---
export function openBackupNow(ctx) {
  const status = ctx.status();
  openWizard({
    title: 'Back Up Now Wizard', testid: 'wizard-backup',
    steps: [{
      title: 'Confirmation',
      render: () => h('div', {},
          h('p', {text: 'Back up these items now, with the retention of the schedule:'}),
          h('ul', {class: 'mono'}, (status?.policy?.specs || []).filter((s) => !s.exclude).map((s) => h('li', {text: s.path}))),
          status?.policy ? null : h('p', {class: 'muted', text: 'No backup is scheduled yet: use Schedule Backup first.'})),
    }],
    finishText: 'Back Up',
    finish: async () => {
      await post('/api/backup');
      ctx.showView('jobs');
      ctx.refresh();
    },
  });
}

// --- Recover Data ---
// Where each item will be written, as the engine will place it (each item
// keeps its whole path below another folder), filled in when it arrives.
function landsAt(state) {
  const dd = h('dd', {testid: 'rec-destinations'}, h('span', {class: 'muted', text: '…'}));
  post('/api/recover/destinations', {items: [...state.items],
    target: state.target === 'original' ? null : (state.folder || '').trim()})
      .then((r) => clear(dd, r.destinations.map((d) => h('div', {class: 'mono', testid: 'rec-destination', text: d.path}))))
      .catch(async (e) => clear(dd, await errorPanel(e)));
  return dd;
}

export function openRecover(ctx) {
  const state = {where: 'this', mode: 'browse', items: new Set(), target: 'original', conflict: 'copy',
    restorePermissions: true};
  const src = () => state.source || undefined;
  const selected = (path) => [...state.items].some((p) => under(path, p));
  openWizard({
    title: 'Recover Data Wizard', testid: 'wizard-recover', state,
    steps: [
      {
        title: 'Getting Started',
        render: () => {
          const self = radio('rec-where', 'this', 'This server', state.where === 'this', 'rec-this');
          const other = radio('rec-where', 'other', 'Another server', state.where === 'other', 'rec-other');
          const cred = credentialInput(state, 'rec-credentials-file');
          const machine = h('input', {type: 'text', value: state.machine || '', testid: 'rec-machine',
            oninput: (e) => (state.machine = e.target.value)});
          const pass = h('input', {type: 'password', value: state.passphrase || '', testid: 'rec-passphrase',
            autocomplete: 'off', oninput: (e) => (state.passphrase = e.target.value)});
          const box = h('div', {class: 'indent'}, field('Vault credentials file', cred.input).row, cred.info,
              field('Server name', machine).row, field('That server\'s passphrase', pass).row);
          const sync = () => {
            state.where = other.input.checked ? 'other' : 'this';
            box.hidden = state.where !== 'other';
          };
          self.input.addEventListener('change', sync);
          other.input.addEventListener('change', sync);
          sync();
          return h('fieldset', {}, h('legend', {text: 'Which server\'s backups?'}), self.row, other.row, box);
        },
        next: async () => {
          if (state.where === 'this') {
            state.source = null;
            return null;
          }
          if (!state.credentials) return 'Choose the vault credentials file.';
          if (!(state.machine || '').trim()) return 'Give the name of the server whose data you recover.';
          if ((state.passphrase || '').length < MIN_PASSPHRASE) return `The passphrase has at least ${MIN_PASSPHRASE} characters.`;
          const answer = await post('/api/sources', {credentials: state.credentials, machine: state.machine.trim(),
            passphrase: state.passphrase});
          state.source = answer.source;
          return null;
        },
      },
      {
        title: 'Select Recovery Date',
        render: () => {
          const box = h('div', {class: 'recover-date'}, h('p', {class: 'muted', text: 'Loading recovery points…'}));
          (async () => {
            let points;
            try {
              points = await get(query('/api/points', {source: src()}));
            } catch (e) {
              clear(box, await errorPanel(e));
              return;
            }
            const damaged = Array.isArray(points) ? [] : points.damaged || [];
            points = Array.isArray(points) ? points : points.points || [];
            const damagedNote = damaged.length ? h('p', {class: 'banner', testid: 'rec-damaged',
              text: `${damaged.length} recovery point(s) cannot be read and are not offered: ` +
                damaged.map((d) => `${d.id.slice(0, 12)} (${d.problem})`).join('; ') +
                '. Run obctl repair to name what they lost.'}) : null;
            if (!points.length) {
              clear(box, h('p', {testid: 'rec-no-points', text: 'There is no recovery point yet.'}), damagedNote);
              return;
            }
            const byDay = {};
            for (const p of points) (byDay[dateKey(new Date(p.time))] ||= []).push(p);
            const counts = Object.fromEntries(Object.entries(byDay).map(([k, v]) => [k, v.length]));
            const timeSelect = h('select', {testid: 'rec-time', id: uid('t')});
            const timeRow = h('div', {class: 'field'}, h('label', {for: timeSelect.id, text: 'Time'}), timeSelect);
            const info = h('div', {class: 'hint', testid: 'rec-point-info'});
            const pickDay = (key) => {
              state.day = key;
              clear(timeSelect, byDay[key].slice().reverse().map((p) => h('option', {value: p.id,
                selected: p.id === state.point, text: new Date(p.time).toLocaleTimeString()})));
              pickPoint();
            };
            const pickPoint = () => {
              state.point = timeSelect.value;
              const p = points.find((x) => x.id === state.point);
              info.textContent = p ? `${p.files} files, ${formatBytes(p.bytes)}: ${(p.paths || []).join(', ')}` : '';
            };
            timeSelect.addEventListener('change', pickPoint);
            if (!state.day || !byDay[state.day]) state.day = Object.keys(byDay).sort().pop();
            const d = new Date(state.day + 'T00:00:00');
            clear(box, damagedNote, h('p', {class: 'muted', text: 'Bold days have recovery points. Pick a day, then a time.'}),
                h('div', {class: 'recover-date-grid'},
                    calendar({counts, onPick: pickDay, selected: state.day, month: d, showCounts: false,
                      testid: 'rec-calendar'}),
                    h('div', {}, timeRow, info)));
            pickDay(state.day);
          })();
          return box;
        },
        next: () => state.point ? null : 'Pick a day with a recovery point and a time.',
      },
      {
        title: 'Select Items to Recover',
        render: () => {
          const browse = radio('rec-mode', 'browse', 'Browse the recovery point', state.mode === 'browse', 'rec-mode-browse');
          const search = radio('rec-mode', 'search', 'Search by name', state.mode === 'search', 'rec-mode-search');
          const chosen = h('div', {class: 'hint', testid: 'rec-selected'});
          const showChosen = () => {
            chosen.textContent = state.items.size ? `Selected: ${[...state.items].join(', ')}` : 'Nothing selected yet.';
          };
          const toggle = (entry, checked) => {
            if (checked) {
              for (const p of [...state.items]) if (under(p, entry.path)) state.items.delete(p);
              state.items.add(entry.path);
            } else if (state.items.has(entry.path)) {
              state.items.delete(entry.path);
            }
            showChosen();
          };
          const base = `/api/points/${encodeURIComponent(state.point)}`;
          const t = tree({
            load: async (path) => (await get(query(base + '/items', {path: path || '/', source: src()}))).entries || [],
            isChecked: selected, onToggle: toggle, rootPath: '/', testid: 'rec-tree',
          });
          const browseBox = h('div', {class: 'tree-box'}, t.element);
          const pattern = h('input', {type: 'text', placeholder: '*.docx', testid: 'rec-search-pattern'});
          const results = h('div', {class: 'search-results', testid: 'rec-search-results'});
          const runSearch = async () => {
            clear(results, h('p', {class: 'muted', text: 'Searching…'}));
            try {
              const a = await get(query(base + '/search', {pattern: pattern.value.trim(), source: src()}));
              clear(results, (a.entries || []).length ? h('ul', {class: 'plain'}, a.entries.map((e) => {
                const c = checkbox(e.path + (e.type === 'file' ? ` (${formatBytes(e.size)})` : ''), selected(e.path), 'rec-search-check');
                c.input.addEventListener('change', () => toggle(e, c.input.checked));
                return h('li', {}, c.row);
              })) : h('p', {class: 'muted', text: 'Nothing matches.'}),
              a.truncated ? h('p', {class: 'hint', text: 'Only the first 1000 matches are shown.'}) : null);
            } catch (e) {
              clear(results, await errorPanel(e));
            }
          };
          pattern.addEventListener('keydown', (e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              e.stopPropagation();
              runSearch();
            }
          });
          const searchBox = h('div', {}, h('div', {class: 'inline'}, field('Name pattern', pattern).row,
              button('Search', runSearch, {testid: 'rec-search'})), results);
          const sync = () => {
            state.mode = search.input.checked ? 'search' : 'browse';
            browseBox.hidden = state.mode !== 'browse';
            searchBox.hidden = state.mode !== 'search';
          };
          browse.input.addEventListener('change', sync);
          search.input.addEventListener('change', sync);
          sync();
          showChosen();
          return h('div', {}, h('div', {class: 'inline'}, browse.row, search.row), browseBox, searchBox, chosen);
        },
        next: () => state.items.size ? null : 'Select at least one file or folder to recover.',
      },
      {
        title: 'Specify Recovery Options',
        render: () => {
          const orig = radio('rec-target', 'original', 'Original location', state.target === 'original', 'rec-target-original');
          const alt = radio('rec-target', 'another', 'Another location', state.target === 'another', 'rec-target-another');
          const folder = h('input', {type: 'text', value: state.folder || '', testid: 'rec-target-folder',
            placeholder: '/srv/restored', oninput: (e) => (state.folder = e.target.value)});
          const folderBox = h('div', {class: 'indent'}, field('Recover to folder', folder).row);
          const sync = () => {
            state.target = alt.input.checked ? 'another' : 'original';
            folderBox.hidden = state.target !== 'another';
          };
          orig.input.addEventListener('change', sync);
          alt.input.addEventListener('change', sync);
          sync();
          const conflicts = [['copy', 'Create copies, so you have both versions'],
            ['overwrite', 'Overwrite the existing versions with the recovered ones'],
            ['skip', 'Do not recover the items that already exist']].map(([v, label]) => {
            const r = radio('rec-conflict', v, label, state.conflict === v, `rec-conflict-${v}`);
            r.input.addEventListener('change', () => (state.conflict = v));
            return r.row;
          });
          const perms = checkbox('Restore the permissions (owner, mode, ACLs) of the recovered files',
              state.restorePermissions, 'rec-permissions');
          perms.input.addEventListener('change', () => (state.restorePermissions = perms.input.checked));
          return h('div', {},
              h('fieldset', {}, h('legend', {text: 'Recover to'}), orig.row, alt.row, folderBox),
              h('fieldset', {}, h('legend', {text: 'When an item already exists'}), conflicts),
              h('fieldset', {}, h('legend', {text: 'Security'}), perms.row));
        },
        next: () => state.target === 'another' && !isAbsolute((state.folder || '').trim())
          ? 'Give the folder to recover to as an absolute path.' : null,
      },
      {
        title: 'Confirmation',
        render: () => h('dl', {class: 'summary', testid: 'rec-summary'},
            h('dt', {text: 'Server'}), h('dd', {text: state.where === 'this' ? 'This server' : state.machine}),
            h('dt', {text: 'Recovery point'}), h('dd', {text: state.point}),
            h('dt', {text: 'Items'}), h('dd', {}, [...state.items].map((p) => h('div', {class: 'mono', text: p}))),
            h('dt', {text: 'Recover to'}), h('dd', {text: state.target === 'original' ? 'Original location' : state.folder}),
            h('dt', {text: 'Lands at'}), landsAt(state),
            h('dt', {text: 'Existing items'}), h('dd', {text: {copy: 'Create copies', overwrite: 'Overwrite', skip: 'Skip'}[state.conflict]}),
            h('dt', {text: 'Permissions'}), h('dd', {text: state.restorePermissions ? 'Restored' : 'Not restored'})),
      },
    ],
    finishText: 'Recover',
    finish: async () => {
      const body = {point: state.point, items: [...state.items],
        target: state.target === 'original' ? null : state.folder.trim(),
        conflict: state.conflict, restore_permissions: state.restorePermissions};
      if (state.source) body.source = state.source;
      await post('/api/recover', body);
      ctx.showView('jobs');
      ctx.refresh();
    },
  });
}

// --- Change Properties ---
const mbps = (bytes) => (bytes ? Math.round((Number(bytes) / (1024 * 1024)) * 100) / 100 : '');
function workDayList(v) {
  if (Array.isArray(v)) return v;
  if (typeof v === 'number') return [0, 1, 2, 3, 4, 5, 6].filter((d) => v & (1 << d));
  return [1, 2, 3, 4, 5];
}

export async function openProperties(ctx) {
  let settings;
  try {
    settings = await get('/api/settings');
  } catch (e) {
    openDialog({title: 'Change Properties', testid: 'dialog-properties', body: await errorPanel(e),
      buttons: [button('Close', (ev) => ev.target.closest('dialog').close(), {testid: 'dialog-close'})]});
    return;
  }
  const th = settings.throttle || {};
  const message = h('div', {class: 'wizard-message', role: 'status', testid: 'wizard-message'});
  const errorBox = h('div');
  const showProblem = (text) => clear(message, h('span', {class: 'validation', testid: 'validation-message', text}));
  const showOk = (text) => clear(message, h('span', {class: 'success', testid: 'properties-saved', text}));

  // Throttling
  const thOn = checkbox('Enable internet bandwidth usage throttling for backup operations', !!th.enabled, 'prop-throttle-enabled');
  const days = new Set(workDayList(th.work_days));
  const dayBoxes = DAYS.map((d, i) => {
    const c = checkbox(d.slice(0, 3), days.has(i), `prop-workday-${i}`);
    c.input.addEventListener('change', () => (c.input.checked ? days.add(i) : days.delete(i)));
    return c.row;
  });
  const start = h('input', {type: 'time', value: th.work_start || '09:00', testid: 'prop-work-start'});
  const end = h('input', {type: 'time', value: th.work_end || '18:00', testid: 'prop-work-end'});
  const workRate = h('input', {type: 'number', min: '0.0625', step: '0.0625', value: String(mbps(th.work_hour_bytes_per_second) || 1), testid: 'prop-work-rate'});
  const offRate = h('input', {type: 'number', min: '0.0625', step: '0.0625', value: String(mbps(th.non_work_hour_bytes_per_second) || 8), testid: 'prop-nonwork-rate'});
  const thBox = h('div', {class: 'indent'},
      h('fieldset', {}, h('legend', {text: 'Work days'}), h('div', {class: 'day-list'}, dayBoxes)),
      h('div', {class: 'grid2'}, field('Work hours start', start).row, field('Work hours end', end).row,
          field('Work hours rate (MB/s)', workRate).row, field('Non-work hours rate (MB/s)', offRate).row),
      h('p', {class: 'hint', text: 'Rates from 64 KB/s (512 Kbps) to 127.9 MB/s (1023 Mbps).'}));
  const syncTh = () => (thBox.hidden = !thOn.input.checked);
  thOn.input.addEventListener('change', syncTh);
  syncTh();

  // Proxy
  const px = settings.proxy || {};
  const proxy = h('input', {type: 'text', value: px.server || '', placeholder: 'http://proxy.example:3128', testid: 'prop-proxy'});
  const proxyUser = h('input', {type: 'text', value: px.username || '', testid: 'prop-proxy-user', autocomplete: 'off'});
  const proxyPw = h('input', {type: 'password', value: '', testid: 'prop-proxy-password', autocomplete: 'off',
    placeholder: px.password_set ? '(unchanged)' : ''});
  // Scratch
  const scratch = h('input', {type: 'text', value: settings.scratch_location || '', testid: 'prop-scratch'});
  // Encryption
  const passState = {};
  const passBox = passphraseSection(passState);
  // The vault service asks for its Security PIN (obctl vault security-pin)
  // for a passphrase change; a local vault folder has none.
  const passPin = h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', testid: 'prop-security-pin',
    placeholder: '8 digits from the vault administrator'});
  const changePass = button('Change passphrase', async () => {
    clear(message);
    clear(errorBox);
    const problem = checkPassphrase(passState, {requireCopy: false});
    if (problem) return showProblem(problem);
    try {
      const body = {passphrase: passState.passphrase};
      if ((passState.passphraseCopyPath || '').trim()) body.passphrase_copy_path = passState.passphraseCopyPath.trim();
      if (passPin.value.trim()) body.security_pin = passPin.value.trim();
      await post('/api/passphrase', body);
      showOk('The passphrase is changed.');
    } catch (e) {
      clear(errorBox, await errorPanel(e));
    }
  }, {primary: true, testid: 'prop-change-passphrase'});

  const tabs = [
    ['throttling', 'Throttling', h('div', {}, thOn.row, thBox)],
    ['proxy', 'Proxy Configuration', h('div', {},
        h('p', {class: 'muted', text: 'Leave the address empty to connect directly.'}),
        field('Proxy address', proxy).row, field('User name', proxyUser).row, field('Password', proxyPw).row)],
    ['scratch', 'Scratch Folder', h('div', {},
        h('p', {class: 'muted', text: 'The scratch folder holds the key file and caches. Changing it moves them (not while a job runs).'}),
        field('Scratch folder', scratch).row)],
    ['encryption', 'Encryption', h('div', {}, passBox,
        field('Security PIN', passPin, 'With a vault service: the PIN its administrator generated (valid 5 minutes).').row,
        changePass)],
  ];
  const tabList = h('div', {class: 'tabs', role: 'tablist'});
  const panels = h('div', {class: 'tab-panels'});
  const tabButtons = tabs.map(([id, label, panel], i) => {
    const b = h('button', {type: 'button', role: 'tab', id: `tab-${id}`, testid: `tab-${id}`, 'aria-controls': `panel-${id}`,
      text: label, onclick: () => select(i),
      onkeydown: (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const k = (i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length;
          select(k);
          tabButtons[k].focus();
        }
      }});
    panel.setAttribute('role', 'tabpanel');
    panel.id = `panel-${id}`;
    panel.setAttribute('aria-labelledby', b.id);
    panels.append(panel);
    return b;
  });
  tabList.append(...tabButtons);
  const select = (k) => tabs.forEach(([, , panel], i) => {
    panel.hidden = i !== k;
    tabButtons[i].setAttribute('aria-selected', String(i === k));
    tabButtons[i].tabIndex = i === k ? 0 : -1;
  });
  select(0);

  const save = async () => {
    clear(message);
    clear(errorBox);
    const throttle = {enabled: thOn.input.checked, work_days: [...days].sort(), work_start: start.value, work_end: end.value,
      work_hour_bytes_per_second: Math.round(Number(workRate.value) * 1024 * 1024),
      non_work_hour_bytes_per_second: Math.round(Number(offRate.value) * 1024 * 1024)};
    if (throttle.enabled) {
      if (!days.size) return showProblem('Select at least one work day.');
      if (!start.value || !end.value || start.value >= end.value) return showProblem('The work hours must start before they end.');
    }
    const p = proxy.value.trim();
    if (p && !/^https?:\/\/[^/:]+:\d+\/?$/.test(p)) return showProblem('Give the proxy as http://HOST:PORT, or leave it empty.');
    const body = {throttle, proxy: {server: p, username: proxyUser.value.trim()}, scratch_location: scratch.value.trim()};
    if (proxyPw.value) body.proxy.password = proxyPw.value;
    try {
      await put('/api/settings', body);
      showOk('The settings are saved; the next job uses them.');
      ctx.refresh();
    } catch (e) {
      clear(errorBox, await errorPanel(e));
    }
  };
  openDialog({title: 'Change Properties', testid: 'dialog-properties', wide: true,
    body: h('div', {class: 'properties'}, tabList, panels, message, errorBox),
    buttons: [button('Save', save, {primary: true, testid: 'prop-save'}),
      button('Close', (ev) => ev.target.closest('dialog').close(), {testid: 'dialog-close'})]});
}

// --- About ---
export async function openAbout(ctx) {
  let status = ctx.status();
  let problem = null;
  try {
    status = await get('/api/status');
  } catch (e) {
    problem = await errorPanel(e);
  }
  const s = status || {};
  openDialog({title: 'About obagent', testid: 'dialog-about',
    body: h('div', {class: 'about'},
        h('p', {class: 'about-name', text: 'obagent backup agent'}),
        problem,
        h('dl', {class: 'summary', testid: 'about-info'},
            h('dt', {text: 'Version'}), h('dd', {testid: 'about-version', text: s.version || '—'}),
            h('dt', {text: 'Engine'}), h('dd', {testid: 'about-engine', text: s.engine || (s.scheduler ? `cbengine (scheduler: ${s.scheduler})` : '—')}),
            h('dt', {text: 'Machine'}), h('dd', {testid: 'about-machine', text: s.machine_name || '—'}),
            h('dt', {text: 'Vault'}), h('dd', {text: s.vault_name || s.vault || '—'}),
            h('dt', {text: 'Scratch folder'}), h('dd', {text: s.scratch_dir || '—'}),
            h('dt', {text: 'Last job'}), h('dd', {text: s.last_job ? `${s.last_job.type} ${s.last_job.state}` : '—'}),
            h('dt', {text: 'Checked'}), h('dd', {text: formatTime(new Date())}))),
    buttons: [button('Close', (ev) => ev.target.closest('dialog').close(), {primary: true, testid: 'dialog-close'})]});
}
