package normalize_test

import (
	"errors"
	"fmt"

	"github.com/cipurge/cipurge/pkg/normalize"
)

func Example() {
	n, err := normalize.New(normalize.Config{
		Token: "tok",
		Hosts: []string{"img.example.com"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, raw := range []string{
		"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600",
		"https://tok.cloudimg.io/v7/https://img.domain.com/image2.jpg",
		"https://img.example.com/img.domain.com/image2.jpg?ci_sign=abc",
		"http://IMG.DOMAIN.COM/image2.jpg",
		"/img.domain.com/image2.jpg",
		"https://other.cloudimg.io/img.domain.com/image2.jpg",
		"javascript:alert(1)",
	} {
		key, err := n.Normalize(raw)
		if err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		fmt.Println(key)
	}
	// Output:
	// https://img.domain.com/image2.jpg
	// https://img.domain.com/image2.jpg
	// https://img.domain.com/image2.jpg
	// https://img.domain.com/image2.jpg
	// https://img.domain.com/image2.jpg
	// rejected: url "https://other.cloudimg.io/img.domain.com/image2.jpg": is a CDN URL of token "other", not of this token "tok": purge it with that token's configuration
	// rejected: url "javascript:alert(1)": has the scheme "javascript:": only http and https URLs can be Cloudimage images
}

// A token created before November 2021 with an origin prefix and an alias.
func ExampleNormalizer_Normalize() {
	aliases, err := normalize.ParseAliases("_media_=https://storage.example.com/media")
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := normalize.New(normalize.Config{
		Token:        "tok",
		LegacyV7:     true,
		OriginPrefix: "https://storage.example.com/images/",
		Aliases:      aliases,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, raw := range []string{
		"https://tok.cloudimg.io/v7/products/shoe.jpg?w=600", // through the prefix
		"https://storage.example.com/images/products/shoe.jpg",
		"https://tok.cloudimg.io/_media_/banner.png", // through the alias
		"https://storage.example.com/media/banner.png",
		"https://img.domain.com/image2.jpg", // any other origin
	} {
		key, err := n.Normalize(raw)
		fmt.Println(key, err)
	}
	// Output:
	// /v7/products/shoe.jpg <nil>
	// /v7/products/shoe.jpg <nil>
	// /v7/_media_/banner.png <nil>
	// /v7/_media_/banner.png <nil>
	// /v7/https://img.domain.com/image2.jpg <nil>
}

func ExampleParseAliases() {
	aliases, err := normalize.ParseAliases("_media_=https://storage.example.com/media,_demo_=https://demo.example.com")
	fmt.Println(len(aliases), aliases["_media_"], err)

	_, err = normalize.ParseAliases("media=https://storage.example.com/media")
	fmt.Println(err)
	// Output:
	// 2 https://storage.example.com/media <nil>
	// Aliases entry "media=https://storage.example.com/media": alias name "media" must start and end with "_" and have something between, e.g. _media_
}

func ExampleNew() {
	_, err := normalize.New(normalize.Config{})
	fmt.Println(err)
	var ce *normalize.ConfigError
	if errors.As(err, &ce) {
		fmt.Println(ce.Named("the token setting"))
	}
	// Output:
	// Token is empty: set it to your Cloudimage token, e.g. demo
	// the token setting is empty: set it to your Cloudimage token, e.g. demo
}
