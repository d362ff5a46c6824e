// Shared by the console pages: DOM helpers, Korean error messages, and the bearer token of the /kb routes.
// Everything from the API is written with textContent, never innerHTML: product and learning text is data.
//
// The token: `cataloop serve` prints  http://127.0.0.1:PORT/kb.html#token=...  The fragment is never sent to
// a server (and never in a Referer). The page moves it into this tab's sessionStorage and removes it from the
// address bar; without it, the page asks the operator to paste the token (`.cataloop/serve-token`).

const TOKEN_KEY = "cataloop-serve-token";

export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function link(href, text, className) {
  const anchor = element("a", text, className);
  anchor.href = href;
  return anchor;
}

export function productHref(productId) {
  return `/product.html?${new URLSearchParams({ id: productId })}`;
}

export function learningHref(learningId) {
  return `/kb.html?${new URLSearchParams({ learning: learningId })}`;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "알 수 없음" : `${(rate * 100).toFixed(1)}%`;
}

export function usd(cost) {
  return cost === null || cost === undefined ? "알 수 없음" : `$${Number(cost).toFixed(4)}`;
}

const STATUS_MESSAGES = {
  400: "요청이 올바르지 않습니다",
  401: "인증 토큰이 없거나 맞지 않습니다",
  403: "권한이 없습니다",
  404: "찾을 수 없습니다",
  409: "다른 변경과 충돌했습니다. 새로 고친 뒤 다시 시도하세요",
  413: "요청이 너무 큽니다",
  415: "요청 형식이 올바르지 않습니다",
  421: "localhost 또는 127.0.0.1 주소로 접속하세요",
  429: "요청이 너무 많습니다. 잠시 뒤 다시 시도하세요",
};

export class ApiError extends Error {
  constructor(status, detail) {
    const korean = STATUS_MESSAGES[status] || (status >= 500 ? "서버 오류가 발생했습니다" : "요청을 처리하지 못했습니다");
    super(detail ? `${korean} (${status}): ${detail}` : `${korean} (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------------------------- token

export function takeTokenFromFragment() {
  const hash = new URLSearchParams(window.location.hash.slice(1));
  const token = hash.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    const url = new URL(window.location.href);
    url.hash = "";
    history.replaceState(null, "", url.pathname + url.search);
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// Shows the paste-the-token form (in #token-panel) and resolves once the operator has saved one.
export function askForToken(reason) {
  const panel = document.getElementById("token-panel");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const message = document.getElementById("token-message");
  message.textContent = reason || "";
  panel.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        const value = input.value.trim();
        input.value = "";
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        panel.hidden = true;
        resolve(value);
      },
      { once: true },
    );
  });
}

// --------------------------------------------------------------------------------------------- fetch

async function send(method, path, params, body, authorised) {
  const query = params && Object.keys(params).length ? `?${new URLSearchParams(params)}` : "";
  const headers = { accept: "application/json" };
  if (authorised && token()) headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path + query, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new Error("서버에 연결할 수 없습니다 (cataloop serve 가 실행 중인가요?)");
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) throw new ApiError(response.status, payload && payload.message);
  return payload;
}

// A public route (GET /search).
export function getJson(path, params) {
  return send("GET", path, params, undefined, false);
}

// An IAM-authorised /kb route: asks for the token when there is none, and again when it is refused (401).
export async function kbCall(method, path, params, body) {
  if (!token()) await askForToken("이 페이지는 /kb API 를 호출합니다. cataloop serve 가 출력한 토큰을 붙여넣으세요.");
  try {
    return await send(method, path, params, body, true);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetToken();
      await askForToken("토큰이 맞지 않습니다 (serve 를 다시 시작하면 바뀝니다). 새 토큰을 붙여넣으세요.");
      return send(method, path, params, body, true);
    }
    throw error;
  }
}

export function showError(box, error) {
  box.textContent = error.message;
  box.hidden = false;
}

takeTokenFromFragment();
