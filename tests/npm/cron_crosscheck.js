#!/usr/bin/env node
// eye's cron against the npm package cron-parser: the next 10 due times of hand-picked and random
// expressions, from many start times, in UTC, Europe/Berlin, America/New_York and Asia/Kolkata.
// Exits 1 naming every disagreement.
// Usage: node tests/npm/cron_crosscheck.js PATH/TO/eye-test-cron-next [RANDOM_COUNT]
'use strict';

const { spawnSync } = require('child_process');
const { CronExpressionParser } = require('cron-parser');

const tool = process.argv[2];
const randomCount = Number(process.argv[3] || 1000);
const NEXT = 10;
if (!tool) {
    console.error('usage: cron_crosscheck.js EYE_TEST_CRON_NEXT [RANDOM_COUNT]');
    process.exit(64);
}

// A small seeded generator, so that a failure can be run again.
let seed = 20261202;
function random() {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const between = (low, high) => low + Math.floor(random() * (high - low + 1));

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

// One field: a star, a value, a list, a range, or a step over either; names where cron has them.
function field(min, max, names) {
    const value = () => {
        const n = between(min, max);
        return names && random() < 0.3 ? names[n - min] || String(n) : String(n);
    };
    const range = () => {
        const a = between(min, max);
        const b = between(a, max);
        return `${a}-${b}`;
    };
    switch (pick(['star', 'star', 'value', 'list', 'range', 'step', 'rangestep'])) {
        case 'star': return '*';
        case 'value': return value();
        case 'list': return Array.from({ length: between(2, 4) }, value).join(',');
        case 'range': return range();
        case 'step': return `*/${between(2, Math.max(2, Math.floor((max - min) / 2)))}`;
        default: return `${range()}/${between(1, 6)}`;
    }
}

function randomExpression() {
    return [
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12, MONTHS),
        field(0, 6, DAYS),
    ].join(' ');
}

// Hand-picked: 29 February, the OR rule, names, steps, macros, and the hours DST changes touch.
const HAND_PICKED = [
    '0 0 29 2 *', '30 12 29 2 *', '0 0 29 2 MON', '0 0 28-29 2 *', '0 0 * 2 *',
    '0 0 13 * FRI', '0 0 1,15 * MON', '0 0 */2 * MON', '0 0 1 * */3', '15 10 31 * *',
    '0 0 * * 7', '0 0 * * 0,7', '0 9-17 * * 1-5', '*/5 * * * *', '0 */6 * * *', '30 * * * *',
    '0 3 * * 0', '0 1 * * *', '0 2 * * *', '*/15 * * * *', '0 * * * *', '* * * * *',
    '30 2 * * *', '0,30 2 * * *', '15 2-3 * * *', '30 1 * * *', '30 1-2 * * *', '*/20 1 * * *',
    '*/20 2 * * *', '0 */2 * * *', '59 23 31 12 *', '0 0 1 1 *', '5/15 * * * *', '10-50/20 * * * *',
    '0 0 * JAN-MAR MON-FRI', '0 12 * * SAT,SUN', '0 0 1-7 * MON', '45 2 * 3 SUN', '45 1 * 11 SUN',
    '0 0 31 * *', '0 0 30 * *', '0 0 31 1,3,5,7,8,10,12 *', '@hourly', '@daily', '@weekly',
    '@monthly', '@yearly', '@annually', '@midnight', '0 2 8-14 3 SUN', '0 2 1-7 11 SUN',
    '30 2 25-31 3 SUN', '30 2 25-31 10 SUN', '*/10 2 * * *', '0 0-3 * * *', '0 1-3/1 * * *',
];

// DST changes: Berlin 2026-03-29 and 2026-10-25 at 01:00 UTC, New York 2026-03-08 07:00 and
// 2026-11-01 06:00 UTC, and the same a year later.
const CHANGES = [
    '2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z',
    '2027-03-28T01:00:00Z', '2027-10-31T01:00:00Z', '2027-03-14T07:00:00Z', '2027-11-07T06:00:00Z',
].map((text) => Date.parse(text) / 1000);
const ZONES = ['utc', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];

function startTimes() {
    const out = [];
    for (const change of CHANGES) {
        // minutes around the change itself: before, at, inside a skipped or repeated hour, after
        for (const offset of [-1800, 0, 1200, 3600 + 1200]) {
            out.push(change + offset);
        }
    }
    out.push(Date.parse('2028-02-28T23:59:00Z') / 1000, Date.parse('2099-12-31T00:00:00Z') / 1000);
    return out;
}
const STARTS = startTimes();
const randomStart = () => between(Date.parse('2026-01-01T00:00:00Z') / 1000,
                                  Date.parse('2031-01-01T00:00:00Z') / 1000);

// cron-parser's next runs after `start`, or null when it refuses the expression. Its iterator
// keeps state across a DST change (whether it has passed a skipped or repeated hour), so its
// answer from a start inside that hour differs from what the same iterator gives when it walked
// in from before. The runs of a schedule do not depend on where one starts looking, so it is
// asked from three hours earlier (no DST change moves the clock further) and its runs up to
// `start` are dropped.
const LEAD = 3 * 3600;
function theirs(expression, zone, start, lead = LEAD) {
    let it;
    try {
        it = CronExpressionParser.parse(expression, {
            currentDate: new Date((start - lead) * 1000),
            tz: zone === 'utc' ? 'UTC' : zone,
        });
    } catch (e) {
        return null;
    }
    const out = [];
    try {
        while (out.length < NEXT) {
            const t = Math.floor(it.next().getTime() / 1000);
            if (t > start) {
                out.push(t);
            }
        }
    } catch (e) {
        // no further run (cron-parser gives up where eye reports none)
    }
    return out;
}

const cases = [];
for (const expression of HAND_PICKED) {
    for (const zone of ZONES.slice(0, 3)) {
        // UTC has no DST change to be near: a few starts do
        for (const start of zone === 'utc' ? STARTS.filter((_, i) => i % 6 === 0) : STARTS) {
            cases.push({ expression, zone, start });
        }
    }
}
let randomKept = 0;
let refused = 0;
while (randomKept < randomCount) {
    const expression = randomExpression();
    const zone = pick(ZONES);
    if (theirs(expression, zone, 0, 0) === null) {
        refused++;
        continue;
    }
    randomKept++;
    for (let i = 0; i < 2; i++) {
        cases.push({ expression, zone, start: random() < 0.5 ? pick(STARTS) : randomStart() });
    }
}

// cron-parser refuses a few expressions eye takes (ranges ending on Sunday, impossible dates):
// compare only where both give an answer.
const input = cases.map((c) => `${c.zone}\t${c.start}\t${NEXT}\t${c.expression}`).join('\n') + '\n';
const run = spawnSync(tool, [], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
if (run.status !== 0) {
    console.error(`cron_crosscheck: ${tool} failed: ${run.stderr || run.error}`);
    process.exit(1);
}
const answers = run.stdout.split('\n');
let compared = 0;
let failures = 0;
let pathDependent = 0;
const expressions = new Set();
const iso = (t) => new Date(t * 1000).toISOString().replace('.000', '');
cases.forEach((c, i) => {
    const expected = theirs(c.expression, c.zone, c.start);
    if (expected === null) {
        return;
    }
    const answer = answers[i];
    const got = answer === '' ? [] : answer.startsWith('error: ') ? null : answer.split(' ').map(Number);
    compared++;
    expressions.add(c.expression);
    const nearChange = CHANGES.some((t) => Math.abs(t - c.start) <= LEAD);
    const direct = c.zone !== 'utc' && nearChange ? theirs(c.expression, c.zone, c.start, 0) : null;
    if (direct !== null && direct.some((t, k) => t !== expected[k])) {
        pathDependent++;
    }
    const same = got !== null && got.length === expected.length && got.every((t, k) => t === expected[k]);
    if (!same) {
        failures++;
        if (failures <= 20) {
            console.error(`MISMATCH '${c.expression}' in ${c.zone} after ${iso(c.start)}:\n` +
                `  cron-parser: ${expected.map(iso).join(' ')}\n` +
                `  eye:         ${got === null ? answer : got.map(iso).join(' ')}`);
        }
    }
});
console.log(`cron_crosscheck: ${compared} cases (${expressions.size} expressions: ` +
    `${HAND_PICKED.length} hand-picked, ${randomKept} random; ${refused} random ones cron-parser ` +
    `refused were skipped), ${NEXT} next times each, in ${ZONES.join(', ')}: ` +
    `${failures} disagreement(s). cron-parser's answer from the start itself differed from its ` +
    `answer walking in from 3 hours earlier in ${pathDependent} case(s) (starts inside a DST ` +
    `change); eye is compared with the latter.`);
process.exit(failures === 0 ? 0 : 1);
