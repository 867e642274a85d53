// The local web chat page: plain JavaScript, no build step. It speaks the HTTP API documented at the top of
// adapters/web/server.ts, and takes every visible string from the server's message catalog
// (GET /api/strings?language=<browser language> → { language, strings }, see src/i18n/web-strings.ts). The server's
// limits (GET /api/info → limits: image size, text length, image formats; adapters/web/page-limits.ts) are checked here
// before anything is sent, so a refused picture is never uploaded and a refused text stays in the box.

const channelsStorageKey = 'ziya-visual.channels';
const activeChannelStorageKey = 'ziya-visual.active-channel';

const elements = {
  banner: document.getElementById('demo-banner'),
  bannerToggle: document.getElementById('banner-toggle'),
  channels: document.getElementById('channels'),
  channelsToggle: document.getElementById('channels-toggle'),
  channelList: document.getElementById('channel-list'),
  addChannel: document.getElementById('add-channel'),
  conversation: document.getElementById('conversation'),
  emptyConversation: document.getElementById('empty-conversation'),
  error: document.getElementById('error'),
  composer: document.getElementById('composer'),
  message: document.getElementById('message'),
  imageInput: document.getElementById('image-input'),
  preview: document.getElementById('preview'),
  previewImage: document.getElementById('preview-image'),
  previewName: document.getElementById('preview-name'),
  removeImage: document.getElementById('remove-image'),
  reset: document.getElementById('reset'),
  send: document.getElementById('send'),
};

const state = {
  strings: {},
  browserLanguage: navigator.language || 'en',
  channels: [],
  activeChannel: '',
  events: undefined,
  pageLanguage: 'en',
  /** The server's limits (GET /api/info); undefined when it did not say, and then only the server checks. */
  limits: undefined,
  image: undefined,
  imageUrl: undefined,
  sending: false,
  /** Questions sent and not answered yet, by request id: a refusal puts the text back in the box. */
  pending: new Map(),
};

/** A catalog string, with `{name}` placeholders filled; the key itself when the catalog lacks it. */
function text(key, params = {}) {
  const template = state.strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
}

function applyStrings() {
  for (const element of document.querySelectorAll('[data-text]')) element.textContent = text(element.dataset.text);
  for (const element of document.querySelectorAll('[data-placeholder]')) {
    element.placeholder = text(element.dataset.placeholder);
  }
  document.title = text('web.title');
}

/**
 * True when `response` is a 401 naming the sign-in page (the session expired or was revoked): the page is then sent
 * there. Reads a copy of the body, so a caller can still read the original.
 */
async function signInIfExpired(response) {
  if (response.status !== 401) return false;
  const login = await response
    .clone()
    .json()
    .then(
      (body) => body?.login,
      () => undefined,
    );
  if (typeof login !== 'string' || !login.startsWith('/') || login.startsWith('//')) return false;
  window.location.assign(login);
  return true;
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  if (await signInIfExpired(response)) return new Promise(() => {}); // the page is leaving
  if (!response.ok) {
    const error = new Error(`${options?.method ?? 'GET'} ${url}: HTTP ${response.status}`);
    // The server's own localized explanation (the rate limit's "slow down"), when it sent one.
    error.userMessage = await response.json().then(
      (body) => body?.message,
      () => undefined,
    );
    throw error;
  }
  return response.json();
}

function showError(message) {
  elements.error.textContent = message;
  elements.error.hidden = false;
}

function clearError() {
  elements.error.textContent = '';
  elements.error.hidden = true;
}

function formatNumber(value) {
  return new Intl.NumberFormat(state.pageLanguage).format(value);
}

// The server's cleaning before it counts (src/text/validate-text.ts): NFC, CRLF → LF, control characters (but tab and
// newline), bidi controls and the byte-order mark removed, trimmed; then Unicode code points are counted.
function characterCount(question) {
  const cleaned = question
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(/(?![\t\n])\p{Cc}/gu, '')
    .replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu, '')
    .trim();
  return [...cleaned].length;
}

function tooLongMessage(count) {
  return text('web.message_too_long', {
    count: formatNumber(count),
    limit: formatNumber(state.limits?.textMaxCharacters ?? count),
  });
}

function tooLargeMessage() {
  return state.limits
    ? text('web.image_too_large', { limit: state.limits.imageMaxSize })
    : text('error.image_too_large');
}

/** Whether the server reads this kind of file: its media type, or (when the system gave none) its name's ending. */
function isAcceptedImage(file) {
  const formats = state.limits?.imageFormats;
  if (!formats) return file.type.startsWith('image/');
  const type = file.type.toLowerCase();
  const name = (file.name ?? '').toLowerCase();
  return formats.some((format) =>
    type === '' ? format.extensions.some((ending) => name.endsWith(ending)) : format.mediaTypes.includes(type),
  );
}

// Channels live in this browser (localStorage); the server keeps each one's conversation under web:<id>.
function loadChannels() {
  try {
    const stored = JSON.parse(localStorage.getItem(channelsStorageKey) ?? '[]');
    if (Array.isArray(stored)) {
      state.channels = stored.filter((channel) => /^[A-Za-z0-9_-]{1,64}$/.test(channel?.id ?? ''));
    }
  } catch {
    state.channels = [];
  }
  if (state.channels.length === 0) state.channels.push(newChannel());
  const active = localStorage.getItem(activeChannelStorageKey);
  state.activeChannel = state.channels.some((channel) => channel.id === active) ? active : state.channels[0].id;
}

function saveChannels() {
  localStorage.setItem(channelsStorageKey, JSON.stringify(state.channels));
  localStorage.setItem(activeChannelStorageKey, state.activeChannel);
}

function newChannel() {
  const id = `c-${crypto.randomUUID().slice(0, 8)}`;
  return { id, number: state.channels.length + 1 };
}

function renderChannels() {
  elements.channelList.replaceChildren(
    ...state.channels.map((channel) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = text('web.channel_default_name', { number: channel.number });
      button.dataset.channel = channel.id;
      if (channel.id === state.activeChannel) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => switchChannel(channel.id));
      item.append(button);
      return item;
    }),
  );
}

async function switchChannel(id) {
  // A narrow screen folds the channel panel away again once one is chosen.
  if (elements.channels.classList.contains('open')) toggle(elements.channelsToggle, elements.channels);
  state.activeChannel = id;
  saveChannels();
  renderChannels();
  clearError();
  elements.conversation.replaceChildren();
  openEvents();
  await loadHistory();
  elements.message.focus();
}

function updateEmptyNotice() {
  elements.emptyConversation.hidden = elements.conversation.children.length > 0;
}

function scrollToEnd() {
  elements.conversation.scrollTop = elements.conversation.scrollHeight;
}

function addTurn({ role, body, imageUrl, requestId, busy = false, isError = false }) {
  const item = document.createElement('li');
  item.className = `turn ${role}${isError ? ' error' : ''}`;
  if (requestId) item.dataset.requestId = requestId;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = text(role === 'user' ? 'web.you' : 'web.bot');
  item.append(who);
  if (imageUrl) {
    const image = document.createElement('img');
    // A picture this browser cannot show (a TIFF; bytes that are no image at all) leaves no broken-image icon.
    image.addEventListener('error', () => image.remove());
    image.src = imageUrl;
    image.alt = text('web.sent_image_alt');
    item.append(image);
  }
  const content = document.createElement('span');
  content.className = 'text';
  content.textContent = body;
  item.append(content);
  item.dataset.thinking = text('web.thinking');
  if (busy) item.setAttribute('aria-busy', 'true');
  elements.conversation.append(item);
  updateEmptyNotice();
  scrollToEnd();
  return item;
}

function botTurn(requestId) {
  const existing = elements.conversation.querySelector(`li.assistant[data-request-id="${CSS.escape(requestId)}"]`);
  return existing ?? addTurn({ role: 'assistant', body: '', requestId, busy: true });
}

async function loadHistory() {
  const channel = state.activeChannel;
  try {
    const { turns } = await fetchJson(`/api/channels/${channel}/history`);
    if (channel !== state.activeChannel) return;
    const live = [...elements.conversation.children];
    elements.conversation.replaceChildren();
    for (const turn of turns) {
      addTurn({
        role: turn.role === 'user' ? 'user' : 'assistant',
        body: turn.text,
        imageUrl: turn.imageSha256 ? `/api/images/${turn.imageSha256}` : undefined,
        requestId: turn.role === 'user' ? undefined : turn.requestId,
      });
    }
    // Turns that streamed in while the history was loading and are not part of it yet.
    for (const item of live) {
      const requestId = item.dataset.requestId;
      if (!requestId || !elements.conversation.querySelector(`li[data-request-id="${CSS.escape(requestId)}"]`)) {
        elements.conversation.append(item);
      }
    }
  } catch {
    showError(text('web.connection_lost'));
  }
  updateEmptyNotice();
  scrollToEnd();
}

function openEvents() {
  state.events?.close();
  const source = new EventSource(`/api/channels/${state.activeChannel}/events`);
  state.events = source;
  source.addEventListener('open', () => {
    if (elements.error.textContent === text('web.connection_lost')) clearError();
  });
  source.addEventListener('progress', (event) => {
    const { requestId, text: partial } = JSON.parse(event.data);
    const turn = botTurn(requestId);
    turn.querySelector('.text').textContent = partial;
    scrollToEnd();
  });
  source.addEventListener('reply', (event) => {
    const reply = JSON.parse(event.data);
    const pending = state.pending.get(reply.requestId);
    state.pending.delete(reply.requestId);
    if (pending && refusedInput.has(reply.error)) {
      takeBack(reply, pending);
      return;
    }
    const turn = botTurn(reply.requestId);
    turn.querySelector('.text').textContent = reply.text;
    turn.classList.toggle('error', Boolean(reply.error));
    if (reply.error) turn.dataset.error = reply.error;
    turn.setAttribute('aria-busy', 'false');
    scrollToEnd();
  });
  // Named `error` events carry data; the EventSource's own connection errors do not (it reconnects by itself).
  source.addEventListener('error', (event) => {
    if (event.data) {
      const { requestId, message } = JSON.parse(event.data);
      if (requestId) {
        state.pending.delete(requestId);
        const turn = botTurn(requestId);
        turn.querySelector('.text').textContent = message;
        turn.classList.add('error');
        turn.setAttribute('aria-busy', 'false');
      } else {
        showError(message);
      }
    } else if (source.readyState !== EventSource.OPEN) {
      showError(text('web.connection_lost'));
      // A stream refused for an expired session is not retried by the browser: ask whether that is why.
      if (source.readyState === EventSource.CLOSED) {
        fetch('/api/info').then(signInIfExpired, () => {});
      }
    }
  });
}

// Refusals of what the user sent (not of the bot's work): the question comes back to the box, with the reason.
const refusedInput = new Set(['message_too_long', 'image_too_large', 'unsupported_format']);

/** A question the server refused as sent: no bubbles for it, its text back in the box, the reason with the limit. */
function takeBack(reply, pending) {
  pending.userTurn?.remove();
  elements.conversation.querySelector(`li.assistant[data-request-id="${CSS.escape(reply.requestId)}"]`)?.remove();
  updateEmptyNotice();
  if (elements.message.value === '') elements.message.value = pending.question;
  if (reply.error === 'message_too_long') showError(tooLongMessage(characterCount(pending.question)));
  else if (reply.error === 'image_too_large') showError(tooLargeMessage());
  else showError(text('web.not_an_image'));
  elements.message.focus();
}

function setImage(file) {
  if (!file) return;
  if (!isAcceptedImage(file)) {
    elements.imageInput.value = '';
    showError(text('web.not_an_image'));
    return;
  }
  // Checked here, so that a picture over the limit is never uploaded only to be refused.
  if (state.limits && file.size > state.limits.imageMaxBytes) {
    elements.imageInput.value = '';
    showError(tooLargeMessage());
    return;
  }
  clearError();
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.image = file;
  state.imageUrl = URL.createObjectURL(file);
  elements.previewImage.src = state.imageUrl;
  elements.previewImage.alt = text('web.image_preview_alt');
  elements.previewName.textContent = text('web.image_attached', { name: file.name || 'image' });
  elements.previewImage.hidden = false;
  elements.preview.hidden = false;
}

function clearImage({ revoke = true } = {}) {
  if (revoke && state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.image = undefined;
  state.imageUrl = undefined;
  elements.imageInput.value = '';
  elements.previewImage.removeAttribute('src');
  elements.preview.hidden = true;
}

function setSending(sending) {
  state.sending = sending;
  elements.send.disabled = sending;
  elements.send.textContent = text(sending ? 'web.sending' : 'web.send');
}

async function send() {
  if (state.sending) return;
  const question = elements.message.value;
  if (question.trim() === '' && !state.image) {
    showError(text('error.empty_message'));
    elements.message.focus();
    return;
  }
  const count = characterCount(question);
  if (state.limits && count > state.limits.textMaxCharacters) {
    // Nothing is sent: the text stays in the box to be shortened.
    showError(tooLongMessage(count));
    elements.message.focus();
    return;
  }
  clearError();
  setSending(true);
  const form = new FormData();
  form.append('text', question);
  form.append('clientMessageId', crypto.randomUUID());
  form.append('language', state.browserLanguage);
  if (state.image) form.append('image', state.image, state.image.name || 'image');
  const channel = state.activeChannel;
  try {
    const { requestId } = await fetchJson(`/api/channels/${channel}/messages`, { method: 'POST', body: form });
    if (channel === state.activeChannel) {
      const bot = elements.conversation.querySelector(`li.assistant[data-request-id="${CSS.escape(requestId)}"]`);
      const refusal = bot?.dataset.error;
      if (refusedInput.has(refusal)) {
        // Refused before the POST even answered: no bubbles, the text stays in the box.
        takeBack({ requestId, error: refusal }, { question });
        if (refusal !== 'message_too_long') clearImage();
        return;
      }
      const userTurn = addTurn({ role: 'user', body: question, imageUrl: state.imageUrl });
      if (bot?.getAttribute('aria-busy') !== 'false') state.pending.set(requestId, { question, userTurn });
      // A fast reply may have streamed in before the POST answered: keep the question above it.
      if (bot) elements.conversation.insertBefore(userTurn, bot);
      else botTurn(requestId);
    }
    elements.message.value = '';
    clearImage({ revoke: false });
  } catch (error) {
    showError(error.userMessage ?? text('web.send_failed'));
  } finally {
    setSending(false);
    elements.message.focus();
  }
}

async function resetConversation() {
  clearError();
  try {
    // The confirmation comes in the page's language, whatever language the conversation was in.
    const language = encodeURIComponent(state.pageLanguage);
    const { requestId } = await fetchJson(`/api/channels/${state.activeChannel}/reset?language=${language}`, {
      method: 'POST',
    });
    // The confirmation may have streamed in before the POST answered: it stays, the rest goes.
    const confirmation = elements.conversation.querySelector(
      `li.assistant[data-request-id="${CSS.escape(requestId)}"]`,
    );
    elements.conversation.replaceChildren(...(confirmation ? [confirmation] : []));
    botTurn(requestId);
  } catch (error) {
    showError(error.userMessage ?? text('web.send_failed'));
  }
}

/** Opens or folds a panel (narrow screens fold the channels and the demo notice); true when now open. */
function toggle(button, panel) {
  const expanded = button.getAttribute('aria-expanded') !== 'true';
  button.setAttribute('aria-expanded', String(expanded));
  panel.classList.toggle('open', expanded);
  return expanded;
}

function wireEvents() {
  elements.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  elements.message.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  elements.imageInput.addEventListener('change', () => setImage(elements.imageInput.files?.[0]));
  // A picture the browser cannot preview (TIFF) is still sent: the preview shows its name only.
  elements.previewImage.addEventListener('error', () => {
    if (elements.previewImage.getAttribute('src')) elements.previewImage.hidden = true;
  });
  elements.channelsToggle.addEventListener('click', () => toggle(elements.channelsToggle, elements.channels));
  elements.bannerToggle.addEventListener('click', () => {
    const expanded = toggle(elements.bannerToggle, elements.banner);
    elements.bannerToggle.textContent = text(expanded ? 'web.hide_banner' : 'web.show_banner');
  });
  elements.removeImage.addEventListener('click', () => {
    clearImage();
    elements.message.focus();
  });
  elements.reset.addEventListener('click', resetConversation);
  elements.addChannel.addEventListener('click', () => {
    const channel = newChannel();
    state.channels.push(channel);
    switchChannel(channel.id);
  });
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])].find((candidate) => candidate.type.startsWith('image/'));
    if (file) {
      event.preventDefault();
      setImage(file);
    }
  });
  elements.composer.addEventListener('dragover', (event) => {
    event.preventDefault();
    elements.composer.classList.add('dragging');
  });
  elements.composer.addEventListener('dragleave', () => elements.composer.classList.remove('dragging'));
  elements.composer.addEventListener('drop', (event) => {
    event.preventDefault();
    elements.composer.classList.remove('dragging');
    setImage(event.dataTransfer?.files?.[0]);
  });
}

async function start() {
  const [strings, info] = await Promise.all([
    fetchJson(`/api/strings?language=${encodeURIComponent(state.browserLanguage)}`).catch(() => undefined),
    fetchJson('/api/info').catch(() => undefined),
  ]);
  state.strings = strings?.strings ?? info?.strings ?? {};
  state.pageLanguage = strings?.language ?? info?.defaultLanguage ?? 'en';
  document.documentElement.lang = state.pageLanguage;
  state.limits = info?.limits;
  if (state.limits) {
    const formats = state.limits.imageFormats;
    elements.imageInput.accept = [
      ...formats.flatMap((format) => format.mediaTypes),
      ...formats.flatMap((f) => f.extensions),
    ].join(',');
  }
  applyStrings();
  if (info?.demo) {
    elements.banner.textContent = info.banner ?? text('demo.banner');
    elements.banner.hidden = false;
    elements.bannerToggle.hidden = false;
  }
  loadChannels();
  wireEvents();
  await switchChannel(state.activeChannel);
  if (!info) showError(text('web.connection_lost'));
}

start();
