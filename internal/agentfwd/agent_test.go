package agentfwd

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// setup starts an in-process upstream agent holding keys and returns a
// filtering agent for host "web1" under p.
func setup(t *testing.T, p Policy, keys ...testKey) (*Agent, *fakeAgent, *eventLog) {
	t.Helper()
	f := startFakeAgent(t, keyring(t, keys...))
	up := NewUpstream(f.path, 4)
	t.Cleanup(func() { up.Close() })
	log := &eventLog{}
	return New(up, "web1", p, log.record), f, log
}

func signAndVerify(t *testing.T, a agent.ExtendedAgent, k ssh.PublicKey) {
	t.Helper()
	data := []byte("session id and userauth request")
	sig, err := a.Sign(k, data)
	if err != nil {
		t.Fatalf("sign with %s: %v", ssh.FingerprintSHA256(k), err)
	}
	if err := k.Verify(data, sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestListAndSignAllowed(t *testing.T) {
	alice, deploy := newKey(t, "alice@laptop"), newKey(t, "deploy-ci")
	a, _, log := setup(t, Policy{}, alice, deploy)

	keys, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	got := fingerprints(keys)
	slices.Sort(got)
	want := []string{alice.fp, deploy.fp}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, k := range keys {
		signAndVerify(t, a, k)
	}
	if _, err := a.SignWithFlags(alice.pub, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if n := a.Signatures(); n != 3 {
		t.Errorf("Signatures = %d, want 3", n)
	}
	if got, want := log.ops(), []string{OpList, OpSign, OpSign, OpSign}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded ops %v, want %v", got, want)
	}
	ev := a.Events()
	if len(ev) != 4 {
		t.Fatalf("Events has %d entries, want 4", len(ev))
	}
	for _, e := range ev[1:] {
		if e.Host != "web1" || e.Err != "" || e.Time.IsZero() || e.Key == "" || e.Comment == "" {
			t.Errorf("sign event %+v: want host, time, key and comment, no error", e)
		}
	}
	if ev[3].Key != alice.fp || ev[3].Comment != "alice@laptop" {
		t.Errorf("last event %+v, want alice's key", ev[3])
	}
}

func TestSignWithFlagsRSA(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := startFakeAgent(t, keyring(t))
	kr := f.ag
	if err := kr.Add(agent.AddedKey{PrivateKey: priv, Comment: "rsa"}); err != nil {
		t.Fatal(err)
	}
	up := NewUpstream(f.path, 1)
	defer up.Close()
	a := New(up, "h", Policy{Keys: []string{"rsa"}}, nil)
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for flags, want := range map[agent.SignatureFlags]string{
		agent.SignatureFlagRsaSha256: ssh.KeyAlgoRSASHA256,
		agent.SignatureFlagRsaSha512: ssh.KeyAlgoRSASHA512,
	} {
		sig, err := a.SignWithFlags(pub, []byte("data"), flags)
		if err != nil {
			t.Fatal(err)
		}
		if sig.Format != want {
			t.Errorf("flags %d: signature %s, want %s", flags, sig.Format, want)
		}
		if err := pub.Verify([]byte("data"), sig); err != nil {
			t.Error(err)
		}
	}
}

func TestSignRefusedForKeyNotAllowed(t *testing.T) {
	alice, deploy := newKey(t, "alice@laptop"), newKey(t, "deploy-ci")
	stranger := newKey(t, "not in the agent")
	a, f, _ := setup(t, Policy{Keys: []string{deploy.fp}}, alice, deploy)

	keys, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := fingerprints(keys); !reflect.DeepEqual(got, []string{deploy.fp}) {
		t.Fatalf("List = %v, want only %s", got, deploy.fp)
	}
	signAndVerify(t, a, deploy.pub)

	// The remote guesses alice's public key (it is public, after all): the
	// agent holds it, but the policy does not allow it.
	for _, k := range []ssh.PublicKey{alice.pub, &agent.Key{Format: alice.pub.Type(), Blob: alice.pub.Marshal()}} {
		if sig, err := a.Sign(k, []byte("data")); !errors.Is(err, ErrNotAllowed) || sig != nil {
			t.Errorf("Sign with a key not allowed: sig %v, err %v; want ErrNotAllowed", sig, err)
		}
	}
	if _, err := a.SignWithFlags(alice.pub, []byte("data"), 0); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("SignWithFlags with a key not allowed: %v", err)
	}
	// A key the agent does not hold gets the same answer.
	if _, err := a.Sign(stranger.pub, []byte("data")); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Sign with an unknown key: %v", err)
	}
	if _, err := a.Sign(nil, []byte("data")); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Sign with a nil key: %v", err)
	}
	if n := a.Signatures(); n != 1 {
		t.Errorf("Signatures = %d, want 1", n)
	}
	var refused []Event
	for _, e := range a.Events() {
		if e.Op == OpSign && e.Err != "" {
			refused = append(refused, e)
		}
	}
	if len(refused) != 5 {
		t.Fatalf("%d failed sign events, want 5: %+v", len(refused), a.Events())
	}
	if e := refused[0]; e.Key != alice.fp || e.Comment != "alice@laptop" || !strings.Contains(e.Err, "key not allowed") {
		t.Errorf("refused sign event %+v: want alice's fingerprint and comment, error 'key not allowed'", e)
	}
	if e := refused[3]; e.Key != stranger.fp || e.Comment != "" {
		t.Errorf("unknown-key event %+v: want its fingerprint and no comment", e)
	}
	if f.accepts.Load() != 1 {
		t.Errorf("dialled the agent %d times, want 1 (reused)", f.accepts.Load())
	}
}

func TestPolicyMatching(t *testing.T) {
	alice, deploy, ci := newKey(t, "alice@laptop"), newKey(t, "deploy-ci"), newKey(t, "/home/ci/.ssh/id_ed25519")
	all := []testKey{alice, deploy, ci}
	for _, tc := range []struct {
		keys []string
		want []testKey
	}{
		{nil, all},
		{[]string{}, all},
		{[]string{"*"}, all},
		{[]string{alice.fp}, []testKey{alice}},
		{[]string{alice.fp, ci.fp}, []testKey{alice, ci}},
		{[]string{"alice@laptop"}, []testKey{alice}},
		{[]string{"*@laptop"}, []testKey{alice}},
		{[]string{"deploy-*"}, []testKey{deploy}},
		{[]string{"*/id_ed25519"}, []testKey{ci}},  // * crosses '/'
		{[]string{"*e*"}, all},                     // all three comments hold an e
		{[]string{"alice"}, nil},                   // exact, not a prefix
		{[]string{"ALICE@LAPTOP"}, nil},            // case matters
		{[]string{"deploy-?i"}, nil},               // only * is special
		{[]string{strings.ToLower(alice.fp)}, nil}, // fingerprints are exact
		{[]string{"SHA256:" + alice.comment}, nil}, // a fingerprint entry never matches a comment
		{[]string{""}, nil},                        // an empty entry matches nothing
		{[]string{"nothing", "deploy-ci"}, []testKey{deploy}},
	} {
		t.Run(fmt.Sprint(tc.keys), func(t *testing.T) {
			a, _, _ := setup(t, Policy{Keys: tc.keys}, all...)
			keys, err := a.List()
			if err != nil {
				t.Fatal(err)
			}
			got := fingerprints(keys)
			var want []string
			for _, k := range tc.want {
				want = append(want, k.fp)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("List = %v, want %v", got, want)
			}
			for _, k := range all {
				_, err := a.Sign(k.pub, []byte("d"))
				if allowed := slices.Contains(want, k.fp); allowed != (err == nil) {
					t.Errorf("Sign %q: err %v, allowed %v", k.comment, err, allowed)
				}
			}
		})
	}
}

func TestPolicyIsCopied(t *testing.T) {
	alice, deploy := newKey(t, "alice"), newKey(t, "deploy")
	keys := []string{"deploy"}
	f := startFakeAgent(t, keyring(t, alice, deploy))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	a := New(up, "h", Policy{Keys: keys}, nil)
	keys[0] = "alice" // the caller changes its slice afterwards
	if _, err := a.Sign(deploy.pub, []byte("d")); err != nil {
		t.Errorf("the policy changed under the agent: %v", err)
	}
}

func TestCertificates(t *testing.T) {
	caPub, caPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = caPub
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	user, other := newKey(t, "ci-user"), newKey(t, "other")
	cert := &ssh.Certificate{
		Key: user.pub, Serial: 1, CertType: ssh.UserCert, KeyId: "ci",
		ValidPrincipals: []string{"ci"}, ValidBefore: ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: user.priv, Certificate: cert, Comment: "ci-cert"}); err != nil {
		t.Fatal(err)
	}
	if err := kr.Add(other.added()); err != nil {
		t.Fatal(err)
	}
	f := startFakeAgent(t, kr)
	up := NewUpstream(f.path, 2)
	defer up.Close()

	for _, tc := range []struct {
		name     string
		keys     []string
		wantCert bool
	}{
		{"by key fingerprint", []string{user.fp}, true},
		{"by certificate fingerprint", []string{ssh.FingerprintSHA256(cert)}, true},
		{"by comment", []string{"ci-*"}, true},
		{"other key only", []string{other.fp}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(up, "h", Policy{Keys: tc.keys}, nil)
			keys, err := a.List()
			if err != nil {
				t.Fatal(err)
			}
			var gotCert bool
			for _, k := range keys {
				if k.Format == cert.Type() {
					gotCert = true
				}
			}
			if gotCert != tc.wantCert {
				t.Fatalf("certificate listed: %v, want %v (list %v)", gotCert, tc.wantCert, keys)
			}
			_, err = a.Sign(cert, []byte("data"))
			if (err == nil) != tc.wantCert {
				t.Fatalf("sign with certificate: %v", err)
			}
			if tc.wantCert {
				if e := a.Events()[len(a.Events())-1]; e.Key != user.fp {
					t.Errorf("event key %s, want the certificate's key %s (as ssh-add -l shows)", e.Key, user.fp)
				}
			}
		})
	}
}

func TestRefusedOperations(t *testing.T) {
	alice := newKey(t, "alice")
	extra := newKey(t, "planted")
	a, f, log := setup(t, Policy{}, alice)

	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: succeeded, want refused", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q has more than one line", name, err)
		}
	}
	check("Add", a.Add(extra.added()))
	check("Remove", a.Remove(alice.pub))
	check("RemoveAll", a.RemoveAll())
	check("Lock", a.Lock([]byte("secret")))
	check("Unlock", a.Unlock([]byte("secret")))
	signers, err := a.Signers()
	check("Signers", err)
	if signers != nil {
		t.Error("Signers returned signers")
	}
	_, err = a.Extension("session-bind@openssh.com", []byte("x"))
	if err != agent.ErrExtensionUnsupported {
		t.Errorf("Extension: %v, want agent.ErrExtensionUnsupported (so ServeAgent answers SSH_AGENT_FAILURE)", err)
	}
	check("Remove(nil)", a.Remove(nil))

	want := []string{OpRefusedAdd, OpRefusedRemove, OpRefusedRemoveAll, OpRefusedLock, OpRefusedUnlock,
		OpRefusedSigners, OpRefusedExtension, OpRefusedRemove}
	if got := log.ops(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	ev := a.Events()
	if ev[0].Comment != "planted" || ev[1].Key != alice.fp || !strings.Contains(ev[6].Err, `"session-bind@openssh.com"`) {
		t.Errorf("events lack details: %+v", ev)
	}
	for _, e := range ev {
		if e.Err == "" || e.Host != "web1" {
			t.Errorf("event %+v: want host and error", e)
		}
		if strings.Contains(e.String(), "secret") {
			t.Errorf("event %q shows the lock passphrase", e)
		}
	}
	// The real agent is untouched: same key, not locked.
	if keys := listAgent(t, f.path); len(keys) != 1 || fingerprint(keys[0].Blob) != alice.fp {
		t.Errorf("upstream agent changed: %v", keys)
	}
	if a.Signatures() != 0 {
		t.Errorf("Signatures = %d", a.Signatures())
	}
}

func TestEventsBounded(t *testing.T) {
	a := New(nil, "h", Policy{}, nil)
	for i := range MaxEvents + 500 {
		a.Extension(fmt.Sprint("ext-", i), nil)
	}
	ev := a.Events()
	if len(ev) != MaxEvents || a.Dropped() != 500 {
		t.Fatalf("kept %d events, dropped %d; want %d and 500", len(ev), a.Dropped(), MaxEvents)
	}
	for i, e := range ev {
		if want := fmt.Sprintf(`"ext-%d"`, 500+i); !strings.Contains(e.Err, want) {
			t.Fatalf("event %d is %q, want %s (oldest first)", i, e.Err, want)
		}
	}
	ev[0].Op = "changed"
	if a.Events()[0].Op == "changed" {
		t.Error("Events returned the agent's own slice")
	}
}

func TestNoUpstream(t *testing.T) {
	for _, up := range []*Upstream{nil, NewUpstream("", 0)} {
		a := New(up, "h", Policy{}, nil)
		if _, err := a.List(); err == nil {
			t.Error("List without an upstream succeeded")
		}
		if _, err := a.Sign(newKey(t, "k").pub, nil); err == nil {
			t.Error("Sign without an upstream succeeded")
		}
		if ev := a.Events(); len(ev) != 2 || ev[0].Err == "" || ev[1].Err == "" {
			t.Errorf("events %+v: want two failures", ev)
		}
	}
}

func TestEventString(t *testing.T) {
	e := Event{Time: time.Now(), Host: "web1", Op: OpSign, Key: "SHA256:abc", Comment: "evil\ncomment", Err: "agentfwd: key not allowed"}
	s := e.String()
	if s != `agent web1: sign SHA256:abc "evil\ncomment": agentfwd: key not allowed` {
		t.Errorf("String = %q", s)
	}
}

func TestValidate(t *testing.T) {
	fp := newKey(t, "").fp
	for _, tc := range []struct {
		keys []string
		ok   bool
	}{
		{nil, true},
		{[]string{fp, "deploy-*", "*"}, true},
		{[]string{""}, false},
		{[]string{"SHA256:"}, false},
		{[]string{fp[:len(fp)-1]}, false},
		{[]string{fp + "="}, false},
		{[]string{"MD5:12:34"}, false},
		{[]string{"ok", "SHA256:!!"}, false},
	} {
		err := Policy{Keys: tc.keys}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok %v", tc.keys, err, tc.ok)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "agentfwd: ") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("error %q: want one line starting agentfwd:", err)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything/at all", true},
		{"a*", "a", true},
		{"a*", "ba", false},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "abcabc", true},
		{"a*b*c", "acb", false},
		{"**", "x", true},
		{"*ab", "aab", true},
		{"*aab", "aaab", true},
		{"a*a*a*a*a*b", strings.Repeat("a", 5000), false}, // no exponential backtracking
		{"é*", "ecole", false},
		{"é*", "école", true},
		{"é*", "élan", true},
	} {
		if got := match(tc.p, tc.s); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// FuzzMatch checks match against a regular-expression reference.
func FuzzMatch(f *testing.F) {
	f.Add("a*b", "axxb")
	f.Add("*@laptop", "alice@laptop")
	f.Add("**a*", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 32 || len(s) > 64 || strings.Count(p, "*") > 4 { // keep the reference fast
			return
		}
		got := match(p, s)
		if want := refMatch(p, s); got != want {
			t.Fatalf("match(%q, %q) = %v, reference says %v", p, s, got, want)
		}
	})
}

// refMatch is match done the slow, obvious way.
func refMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && s[0] == p[0] && refMatch(p[1:], s[1:])
}
