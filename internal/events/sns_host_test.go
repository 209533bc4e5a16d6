package events

import "testing"

// TestSNSHost: SNS's own host names in every partition match; S3's addresses of a bucket named
// "sns", other services and look-alikes do not.
func TestSNSHost(t *testing.T) {
	for _, h := range []string{"sns.us-east-1.amazonaws.com", "sns.ap-southeast-2.amazonaws.com", "sns.il-central-1.amazonaws.com",
		"sns.us-gov-west-1.amazonaws.com", "sns.us-iso-east-1.amazonaws.com", "sns.us-isob-east-1.amazonaws.com",
		"sns.cn-north-1.amazonaws.com.cn", "sns.cn-northwest-1.amazonaws.com.cn"} {
		if !snsHost.MatchString(h) {
			t.Errorf("%s is refused, want it accepted", h)
		}
	}
	for _, h := range []string{"sns.s3.amazonaws.com", "sns.s3-accelerate.amazonaws.com", "sns.s3-us-west-2.amazonaws.com",
		"sns.s3.us-west-2.amazonaws.com", "sns.s3-website-us-east-1.amazonaws.com", "sns.s3.dualstack.us-east-1.amazonaws.com",
		"sns.execute-api.us-east-1.amazonaws.com", "sns.amazonaws.com", "sns.us-east-1.amazonaws.com.evil.example",
		"sns-us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com.cn", "SNS.US-EAST-1.AMAZONAWS.COM"} {
		if snsHost.MatchString(h) {
			t.Errorf("%s is accepted, want it refused", h)
		}
	}
}
