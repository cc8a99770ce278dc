// Small DOM helpers shared by the views and wizards: element building (no
// innerHTML with data, so names from the file system are always text),
// formatting, the error panel, dialogs with steps, a month calendar and a
// lazily loaded tree.
import {ApiError, errorCatalogue} from './api.js';

// h('div', {class: 'x', testid: 'y', onclick: f}, child, 'text', [more])
export function h(tag, props = {}, ...children) {
  const svg = ['svg', 'path', 'line', 'text', 'circle', 'g', 'polyline', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'testid') el.setAttribute('data-testid', value);
    else if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'value' && !svg) el.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'hidden' || key === 'selected') el[key] = !!value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
export const uid = (prefix) => `${prefix}-${++idCounter}`;

// A labelled input: returns {row, input}.
export function field(label, input, hint) {
  if (!input.id) input.id = uid('f');
  const row = h('div', {class: 'field'}, h('label', {for: input.id, text: label}), input,
      hint ? h('div', {class: 'hint', text: hint}) : null);
  return {row, input};
}

export function radio(name, value, label, checked, testid) {
  const input = h('input', {type: 'radio', name, value, checked, id: uid('r'), testid});
  return {row: h('label', {class: 'choice', for: input.id}, input, ' ', label), input};
}

export function checkbox(label, checked, testid) {
  const input = h('input', {type: 'checkbox', checked, id: uid('c'), testid});
  return {row: h('label', {class: 'choice', for: input.id}, input, ' ', label), input};
}

// --- formatting ---
export function formatBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
}

export function formatDuration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const hh = Math.floor(seconds / 3600), mm = Math.floor((seconds % 3600) / 60), ss = seconds % 60;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min ${ss} s`;
  return `${ss} s`;
}

export const pad2 = (n) => String(n).padStart(2, '0');
export const dateKey = (d) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;

export function formatTime(date) {
  if (!(date instanceof Date)) date = new Date(date);
  if (isNaN(date)) return '';
  return date.toLocaleString(undefined, {year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

export function stateBadge(state) {
  const kind = {Completed: 'ok', CompletedWithWarnings: 'warn', Failed: 'bad', Cancelled: 'neutral',
    Running: 'run', InProgress: 'run'}[state] || 'neutral';
  const text = {CompletedWithWarnings: 'Completed with warnings', InProgress: 'In progress'}[state] || state;
  return h('span', {class: `badge badge-${kind}`, testid: 'state-badge', 'data-state': state, text});
}

// --- errors ---
// The panel every failed request is shown in: the catalogue ID, the message,
// what it means and what to do.
export async function errorPanel(error, onDismiss) {
  let {errorId = '', explanation = '', action = ''} = error instanceof ApiError ? error : {};
  if (errorId && (!explanation || !action)) {
    const entry = (await errorCatalogue()).get(errorId);
    if (entry) {
      explanation ||= entry.explanation;
      action ||= entry.action;
    }
  }
  const panel = h('div', {class: 'error-panel', role: 'alert', testid: 'error-panel'},
      h('div', {class: 'error-head'},
          h('span', {class: 'error-icon', 'aria-hidden': 'true', text: '!'}),
          h('strong', {class: 'error-title'}, errorId ? 'Error ' : 'Error',
              errorId ? h('span', {class: 'error-id', testid: 'error-id', text: errorId}) : null),
          onDismiss ? h('button', {type: 'button', class: 'link-button error-dismiss', text: 'Dismiss',
            onclick: () => {
              panel.remove();
              onDismiss();
            }}) : null),
      h('p', {class: 'error-message', testid: 'error-message', text: error.message || String(error)}),
      explanation ? h('p', {class: 'error-explanation', testid: 'error-explanation'},
          h('strong', {text: 'What happened: '}), explanation) : null,
      action ? h('p', {class: 'error-action', testid: 'error-action'},
          h('strong', {text: 'What to do: '}), action) : null);
  return panel;
}

export async function showError(container, error) {
  clear(container, await errorPanel(error, () => {}));
}

// --- dialogs and wizards ---
// A modal <dialog> (keyboard: Tab stays inside, Escape cancels).
export function openDialog({title, testid, body, buttons, wide}) {
  const dialog = h('dialog', {class: 'dialog' + (wide ? ' dialog-wide' : ''), testid,
    'aria-labelledby': uid('dlg')});
  const heading = h('h2', {id: dialog.getAttribute('aria-labelledby'), text: title});
  const footer = h('div', {class: 'dialog-footer'});
  dialog.append(h('div', {class: 'dialog-head'}, heading), body, footer);
  for (const b of buttons || []) footer.append(b);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export function button(text, onclick, {primary, testid, disabled, id} = {}) {
  return h('button', {type: 'button', class: primary ? 'primary' : 'secondary', text, onclick, testid, disabled, id});
}

// steps: [{title, render(state) -> Node, next(state) -> string|void (a
// validation message) or a promise of one}]; finish(state) runs on the last
// step's Finish. Each step's page is built when it is shown.
export function openWizard({title, testid, steps, state = {}, finish, finishText = 'Finish'}) {
  let index = 0;
  const stepList = h('ol', {class: 'wizard-steps'});
  const page = h('div', {class: 'wizard-page'});
  const message = h('div', {class: 'wizard-message', role: 'status', testid: 'wizard-message'});
  const errorBox = h('div', {class: 'wizard-error'});
  const back = button('< Back', () => go(index - 1), {testid: 'wizard-back'});
  const next = button('Next >', () => advance(), {primary: true, testid: 'wizard-next'});
  const cancel = button('Cancel', () => dialog.close(), {testid: 'wizard-cancel'});
  const body = h('div', {class: 'wizard'}, stepList, h('div', {class: 'wizard-main'}, page, message, errorBox));
  const dialog = openDialog({title, testid, body, buttons: [back, next, cancel], wide: true});
  const stepItems = steps.map((s) => h('li', {text: s.title}));
  // A validation message is about what was there when Next was pressed.
  page.addEventListener('change', () => clear(message));
  stepList.append(...stepItems);

  function go(i) {
    index = i;
    stepItems.forEach((li, k) => {
      li.className = k === i ? 'current' : k < i ? 'done' : '';
      if (k === i) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    clear(message);
    clear(errorBox);
    const step = steps[i];
    clear(page, h('h3', {class: 'wizard-page-title', text: step.title}), step.render(state, api));
    dialog.setAttribute('data-step', String(i + 1));
    page.setAttribute('data-testid', 'wizard-step-' + (i + 1));
    back.disabled = i === 0;
    next.textContent = i === steps.length - 1 ? finishText : 'Next >';
    next.setAttribute('data-testid', i === steps.length - 1 ? 'wizard-finish' : 'wizard-next');
    const first = page.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  }

  async function advance() {
    clear(message);
    clear(errorBox);
    next.disabled = true;
    try {
      const step = steps[index];
      const problem = step.next ? await step.next(state, api) : null;
      if (problem) {
        clear(message, h('span', {class: 'validation', testid: 'validation-message', text: problem}));
        return;
      }
      if (index === steps.length - 1) {
        const done = await finish(state, api);
        if (done instanceof Node) {
          // The result page: only Close is left.
          clear(page, done);
          page.setAttribute('data-testid', 'wizard-done');
          back.hidden = true;
          next.hidden = true;
          cancel.textContent = 'Close';
          cancel.setAttribute('data-testid', 'wizard-close');
          cancel.focus();
        } else {
          dialog.close();
        }
      } else {
        go(index + 1);
      }
    } catch (e) {
      clear(errorBox, await errorPanel(e));
    } finally {
      next.disabled = false;
    }
  }

  const api = {dialog, go, showError: async (e) => clear(errorBox, await errorPanel(e)),
    rerender: () => go(index)};
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.tagName === 'INPUT' && e.target.type !== 'checkbox' &&
        e.target.type !== 'radio' && e.target.type !== 'file') {
      e.preventDefault();
      advance();
    }
  });
  go(0);
  return api;
}

// --- month calendar ---
// counts: {"YYYY-MM-DD": n}; days with n > 0 are bold (and show n when
// showCounts). With onPick(key) only those days can be picked; without it the
// calendar only shows.
export function calendar({counts, onPick, selected, month, showCounts = true, testid = 'calendar'}) {
  const today = new Date();
  let shown = month ? new Date(month.getFullYear(), month.getMonth(), 1)
                    : new Date(today.getFullYear(), today.getMonth(), 1);
  const root = h('div', {class: 'calendar', testid});
  const render = () => {
    const title = shown.toLocaleString(undefined, {month: 'long', year: 'numeric'});
    const grid = h('div', {class: 'calendar-grid', role: 'grid', 'aria-label': title});
    for (const d of ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']) {
      grid.append(h('div', {class: 'calendar-dow', role: 'columnheader', text: d}));
    }
    for (let i = 0; i < shown.getDay(); i++) grid.append(h('div', {class: 'calendar-pad'}));
    const days = new Date(shown.getFullYear(), shown.getMonth() + 1, 0).getDate();
    for (let d = 1; d <= days; d++) {
      const key = `${shown.getFullYear()}-${pad2(shown.getMonth() + 1)}-${pad2(d)}`;
      const n = counts[key] || 0;
      const cls = ['calendar-day'];
      if (n) cls.push('has-points');
      if (key === selected) cls.push('selected');
      if (key === dateKey(today)) cls.push('today');
      const cell = h('button', {type: 'button', class: cls.join(' '), 'data-date': key, disabled: !n && !!onPick,
        'aria-label': `${key}: ${n} recovery point${n === 1 ? '' : 's'}`, 'aria-pressed': key === selected ? 'true' : null,
        onclick: () => {
          if (!onPick) return;
          selected = key;
          render();
          onPick(key);
        }},
      h('span', {class: 'calendar-num', text: d}),
      showCounts && n ? h('span', {class: 'calendar-count', text: n}) : null);
      grid.append(cell);
    }
    clear(root,
        h('div', {class: 'calendar-head'},
            button('<', () => {
              shown = new Date(shown.getFullYear(), shown.getMonth() - 1, 1);
              render();
            }, {testid: 'calendar-prev'}),
            h('span', {class: 'calendar-title', testid: 'calendar-title', text: title}),
            button('>', () => {
              shown = new Date(shown.getFullYear(), shown.getMonth() + 1, 1);
              render();
            }, {testid: 'calendar-next'})),
        grid);
    root.querySelector('[data-testid=calendar-prev]').setAttribute('aria-label', 'Previous month');
    root.querySelector('[data-testid=calendar-next]').setAttribute('aria-label', 'Next month');
  };
  render();
  return root;
}

// --- lazily loaded tree with checkboxes ---
// load(path) -> [{name, path, type, size}], called when a folder is first
// opened. What a tick means is the caller's: onToggle(entry, checked) records
// it, isChecked(path) answers for every shown box (so ticking a folder shows
// its loaded children ticked too).
export function tree({load, isChecked, onToggle, rootPath = '', testid = 'tree'}) {
  const root = h('ul', {class: 'tree', role: 'tree', testid});
  const refresh = () => {
    for (const cb of root.querySelectorAll('input[type=checkbox]')) cb.checked = isChecked(cb.dataset.path);
  };
  const fill = async (ul, path) => {
    clear(ul, h('li', {class: 'muted', text: 'Loading…'}));
    let entries;
    try {
      entries = await load(path);
    } catch (e) {
      clear(ul, h('li', {}, await errorPanel(e)));
      return;
    }
    clear(ul);
    if (!entries.length) ul.append(h('li', {class: 'muted tree-empty', text: '(empty)'}));
    for (const entry of entries) {
      const isDir = entry.type === 'dir';
      const children = h('ul', {class: 'tree', role: 'group', hidden: true});
      const cb = h('input', {type: 'checkbox', 'data-path': entry.path, checked: isChecked(entry.path),
        'aria-label': `Select ${entry.path}`, testid: 'tree-check',
        onchange: () => {
          onToggle(entry, cb.checked);
          refresh();
        }});
      const twisty = h('button', {type: 'button', class: 'twisty', 'aria-expanded': 'false',
        'aria-label': `Expand ${entry.name}`, testid: 'tree-expand', hidden: !isDir, text: '▸',
        onclick: async () => {
          const open = children.hidden;
          children.hidden = !open;
          twisty.setAttribute('aria-expanded', String(open));
          twisty.textContent = open ? '▾' : '▸';
          if (open && !children.dataset.loaded) {
            children.dataset.loaded = '1';
            await fill(children, entry.path);
          }
        }});
      ul.append(h('li', {role: 'treeitem', 'data-path': entry.path, 'data-type': entry.type, testid: 'tree-item'},
          h('div', {class: 'tree-row'}, isDir ? twisty : h('span', {class: 'twisty-space'}), cb,
              h('span', {class: 'tree-icon tree-icon-' + entry.type, 'aria-hidden': 'true'}),
              h('span', {class: 'tree-name', text: entry.name}),
              entry.type === 'file' && entry.size !== undefined ? h('span', {class: 'tree-size', text: formatBytes(entry.size)}) : null),
          children));
    }
  };
  fill(root, rootPath);
  return {element: root, refresh};
}
