// The console's entry point: sign-in (the #token= of `obctl console url`, or
// the form), the three views with a status poll about once a second, and the
// Actions pane that opens the wizards.
import {ApiError, get, post, setCsrf, setUnauthorizedHandler} from './api.js';
import {clear, showError} from './ui.js';
import {JobsView, renderOverview, renderVault} from './views.js';
import {openAbout, openBackupNow, openProperties, openRecover, openRegister, openSchedule, openStopProtection} from './wizards.js';

const $ = (id) => document.getElementById(id);
let currentView = 'overview';
let jobsView = null;
let pollTimer = null;
export let lastStatus = null;

async function signIn(token) {
  const answer = await post('/api/login', {token});
  setCsrf(answer.csrf);
}

function showLogin(error) {
  stopPolling();
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  clear($('login-error'));
  if (error) showError($('login-error'), error);
  $('login-token').focus();
}

async function start() {
  setUnauthorizedHandler(() => showLogin(new ApiError(401, {message: 'Your session has ended. Sign in again.'})));
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await signIn($('login-token').value.trim());
      $('login-token').value = '';
      enterApp();
    } catch (err) {
      showLogin(err);
    }
  });
  $('logout').addEventListener('click', async () => {
    try {
      await post('/api/logout');
    } catch { /* the session is gone either way */ }
    setCsrf(null);
    showLogin();
  });

  // A console URL pasted into a tab that already shows the console only
  // changes the fragment: sign in with it too.
  window.addEventListener('hashchange', loginFromFragment);
  if (await loginFromFragment()) return;
  try {
    const session = await get('/api/session');
    setCsrf(session.csrf);
    enterApp();
  } catch {
    showLogin();
  }
}

async function loginFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  // Take the token out of the address bar (and the history) at once.
  history.replaceState(null, '', location.pathname + location.search);
  try {
    await signIn(decodeURIComponent(match[1]));
    enterApp();
  } catch (err) {
    showLogin(err);
  }
  return true;
}

function enterApp() {
  stopPolling();
  $('login-view').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  jobsView = new JobsView($('view-jobs'));
  for (const b of document.querySelectorAll('.nav-item')) {
    b.onclick = () => showView(b.dataset.view);
  }
  const actions = {register: openRegister, schedule: openSchedule, stop: openStopProtection, backup: openBackupNow,
    recover: openRecover, properties: openProperties, about: openAbout};
  for (const b of document.querySelectorAll('.action')) {
    b.onclick = () => actions[b.dataset.action](context);
  }
  showView('overview');
  poll();
}

// What the wizards may do with the app.
const context = {
  showView: (v) => showView(v),
  status: () => lastStatus,
  refresh: () => poll(),
};

function showView(name) {
  currentView = name;
  for (const b of document.querySelectorAll('.nav-item')) {
    const on = b.dataset.view === name;
    b.classList.toggle('active', on);
    if (on) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const v of ['overview', 'jobs', 'vault']) $('view-' + v).hidden = v !== name;
  clear($('page-error'));
  if (name === 'jobs') {
    jobsView.loadHistory();
    if (lastStatus) jobsView.showRunning(lastStatus.running);
  }
  if (name === 'vault') renderVault($('view-vault'));
  if (name === 'overview' && lastStatus) renderOverview($('view-overview'), lastStatus);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

async function poll() {
  stopPolling();
  try {
    lastStatus = await get('/api/status');
    clear($('page-error'));
    $('topbar-machine').textContent = lastStatus.registered
      ? `${lastStatus.machine_name} · vault ${lastStatus.vault_name || lastStatus.vault || ''}` : 'Not registered';
    jobsView.update(lastStatus);
    if (currentView === 'overview') renderOverview($('view-overview'), lastStatus);
  } catch (e) {
    if (e.status === 401) return;  // showLogin took over
    showError($('page-error'), e);
  }
  if (!$('app').hidden) pollTimer = setTimeout(poll, 1000);
}

start();
