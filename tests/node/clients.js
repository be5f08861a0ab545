// clients.js - real clients against `heft-engine serve --http`, run by
// tests/http-clients.sh: the openai npm package (the SDK most tools embed)
// and Node's own fetch with undici's timeouts cut to 15 s.
//
//   node clients.js sdk BASE KEY MODEL   the SDK's calls, a 401, an abort
//   node clients.js slow BASE KEY        a first token after 40 s
//
// Every failure is printed as "FAIL: ..."; the exit status is 1 if any.
'use strict';

const OpenAI = require('openai');
const undici = require('undici');

let fails = 0;
function fail(what) {
	console.log(`FAIL: ${what}`);
	fails++;
}
function check(cond, what) {
	if (!cond)
		fail(what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function metric(base, key, name) {
	const r = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${key}` } });
	const m = (await r.text()).match(new RegExp(`^heft_${name} (\\S+)$`, 'm'));
	return m ? Number(m[1]) : NaN;
}

// true once metric name is value, polled for at most ms
async function waitMetric(base, key, name, value, ms) {
	const end = Date.now() + ms;
	do {
		if ((await metric(base, key, name)) === value)
			return true;
		await sleep(50);
	} while (Date.now() < end);
	return false;
}

async function sdk(base, key, model) {
	const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });
	const messages = [
		{ role: 'system', content: 'Be brief.' },
		{ role: 'user', content: 'Say hello.' },
	];

	const models = await client.models.list();
	check(models.data.length === 1 && models.data[0].id === model, `models.list: ${JSON.stringify(models.data)}`);

	const whole = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 12 });
	const text = whole.choices[0].message.content;
	check(typeof text === 'string' && whole.usage.completion_tokens > 0, `whole chat: ${JSON.stringify(whole)}`);

	let streamed = '', chunks = 0, usages = 0, first = null, finish = null;
	const stream = await client.chat.completions.create({
		model, messages, temperature: 0, max_tokens: 12, stream: true,
		stream_options: { include_usage: true },
	});
	for await (const c of stream) {
		chunks++;
		if (c.usage) {
			usages++;
			check(c.choices.length === 0, 'the usage chunk has choices');
			check(c.usage.completion_tokens === whole.usage.completion_tokens,
				`usage ${c.usage.completion_tokens} tokens, the whole reply ${whole.usage.completion_tokens}`);
			continue;
		}
		if (!first)
			first = c.choices[0].delta;
		streamed += c.choices[0].delta.content || '';
		finish = c.choices[0].finish_reason || finish;
	}
	check(first && first.role === 'assistant', `first delta: ${JSON.stringify(first)}`);
	check(usages === 1, `${usages} usage chunks with include_usage, not 1`);
	check(streamed === text, `streamed ${JSON.stringify(streamed)} differs from whole ${JSON.stringify(text)}`);
	check(finish === whole.choices[0].finish_reason, `finish_reason ${finish}`);

	// without include_usage: no usage chunk
	usages = 0;
	for await (const c of await client.chat.completions.create({ model, messages, max_tokens: 4, stream: true }))
		usages += c.usage ? 1 : 0;
	check(usages === 0, `${usages} usage chunks without include_usage`);

	const completion = await client.completions.create({ model, prompt: 'Once upon', max_tokens: 4, temperature: 0 });
	check(typeof completion.choices[0].text === 'string', `completions: ${JSON.stringify(completion)}`);

	// a wrong key: 401, the SDK's AuthenticationError
	const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-the-key', maxRetries: 0 });
	try {
		await stranger.chat.completions.create({ model, messages, max_tokens: 2 });
		fail('a wrong key was accepted');
	} catch (e) {
		check(e instanceof OpenAI.AuthenticationError && e.status === 401, `wrong key: ${e}`);
	}

	// an aborted stream: the engine drops the job within a second
	const cancelled = await metric(base, key, 'requests_cancelled_total');
	const ac = new AbortController();
	const long = await client.chat.completions.create(
		{ model, messages: [{ role: 'user', content: 'Tell a long story.' }], max_tokens: 400, temperature: 0, stream: true },
		{ signal: ac.signal });
	let got = 0, finished = false;
	try {
		for await (const c of long) {
			if (c.choices.length && c.choices[0].finish_reason)
				finished = true;
			if (c.choices.length && c.choices[0].delta.content !== undefined && ++got === 3)
				ac.abort();
		}
	} catch (e) { /* the SDK ends an aborted stream quietly or with this */
		check(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `abort: ${e}`);
	}
	check(ac.signal.aborted && !finished, `the stream to abort ended by itself after ${got} pieces`);
	check(await waitMetric(base, key, 'requests_processing', 0, 1000), 'the engine still generates 1 s after the abort');
	check((await metric(base, key, 'requests_cancelled_total')) === cancelled + 1, 'the abort cancelled no job');

	const after = await client.chat.completions.create({ model, messages, max_tokens: 2 });
	check(after.choices.length === 1, 'no answer after the abort');
}

// Node's fetch with 15 s timeouts, a first token after 40 s: early headers
// and pings keep it alive.
async function slow(base, key) {
	const dispatcher = new undici.Agent({ headersTimeout: 15000, bodyTimeout: 15000 });
	const t0 = Date.now();
	const r = await undici.fetch(`${base}/v1/chat/completions`, {
		method: 'POST', dispatcher,
		headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
		body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1, stream: true }),
	});
	const th = Date.now() - t0;
	check(r.status === 200 && th < 2000, `headers after ${th} ms, status ${r.status}`);
	check((r.headers.get('content-type') || '').startsWith('text/event-stream'), 'not text/event-stream');
	let last = Date.now(), gap = 0, body = '', firstData = 0, pings = 0;
	const dec = new TextDecoder();
	for await (const piece of r.body) {
		const now = Date.now();
		gap = Math.max(gap, now - last);
		last = now;
		const s = dec.decode(piece, { stream: true });
		pings += (s.match(/^:/gm) || []).length;
		if (!firstData && /^data: \{.*"content"/m.test(s))
			firstData = now - t0;
		body += s;
	}
	check(firstData >= 40000, `the first token came after ${firstData} ms, not 40 s`);
	check(gap <= 10500, `a silence of ${gap} ms (pings every 10 s at most)`);
	check(pings >= 3, `${pings} pings in ${firstData} ms`);
	check(body.endsWith('data: [DONE]\n\n'), `the stream did not end with [DONE]: ${body.slice(-200)}`);
	console.log(`slow: headers ${th} ms, first token ${firstData} ms, ${pings} pings, longest silence ${gap} ms`);
}

async function main() {
	const [mode, base, key, model] = process.argv.slice(2);
	if (mode === 'sdk')
		await sdk(base, key, model);
	else if (mode === 'slow')
		await slow(base, key);
	else
		throw new Error(`unknown mode ${mode}`);
}

main().then(() => process.exit(fails ? 1 : 0), (e) => {
	console.log(`FAIL: ${e.stack || e}`);
	process.exit(1);
});
