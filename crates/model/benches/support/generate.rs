//! A generated, realistic sign-in (beta shape, about 2.3 KB), shared by the benchmark and the
//! streaming-memory example.

/// One realistic sign-in (beta shape), varied by `n`.
pub fn sign_in(n: usize) -> String {
    let user = n % 5_000;
    let failed = n.is_multiple_of(7);
    let (code, reason) =
        if failed { (50126, "Error validating credentials due to invalid username or password.") } else { (0, "") };
    format!(
        r#"{{"id":"{n:08x}-8579-43a7-966a-0f35583c1300","createdDateTime":"2024-03-{day:02}T{hour:02}:{minute:02}:{second:02}.{frac:07}Z","userDisplayName":"User {user}","userPrincipalName":"user{user}@contoso.com","userId":"{user:08x}-1111-5555-b4e2-a37c6808512d","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appDisplayName":"Azure Portal","ipAddress":"131.107.{a}.{b}","clientAppUsed":"Browser","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91","correlationId":"5d295068-919b-4017-85d8-{n:012x}","conditionalAccessStatus":"success","originalRequestId":"7dccb0d7-1041-4d82-b785-{n:012x}","isInteractive":true,"tokenIssuerName":"","tokenIssuerType":"AzureAD","processingTimeInMilliseconds":{ms},"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes_v2":[],"resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","resourceTenantId":"99081087-73c4-48d1-a112-f60ff75114f7","homeTenantId":"99081087-73c4-48d1-a112-f60ff75114f7","authenticationRequirement":"multiFactorAuthentication","signInEventTypes":["interactiveUser"],"servicePrincipalId":"","userType":"member","flaggedForReview":false,"isTenantRestricted":false,"autonomousSystemNumber":3598,"crossTenantAccessType":"none","status":{{"errorCode":{code},"failureReason":"{reason}","additionalDetails":null}},"deviceDetail":{{"deviceId":"","displayName":"","operatingSystem":"Windows 10","browser":"Edge 120.0.2210","isCompliant":false,"isManaged":false,"trustType":""}},"location":{{"city":"Redmond","state":"Washington","countryOrRegion":"US","geoCoordinates":{{"altitude":null,"latitude":47.68050003051758,"longitude":-122.12094116210938}}}},"appliedConditionalAccessPolicies":[{{"id":"de7e60eb-ed89-4d73-8205-2227def6b7c9","displayName":"Require MFA for admins","enforcedGrantControls":["Mfa"],"enforcedSessionControls":[],"result":"success"}},{{"id":"6701123a-b4c6-48af-8565-565c8bf7cabc","displayName":"Block legacy authentication","enforcedGrantControls":["Block"],"enforcedSessionControls":[],"result":"notApplied"}}],"authenticationProcessingDetails":[{{"key":"Login Hint Present","value":"True"}}],"networkLocationDetails":[],"authenticationDetails":[{{"authenticationStepDateTime":"2024-03-{day:02}T{hour:02}:{minute:02}:{second:02}Z","authenticationMethod":"Password","authenticationMethodDetail":"Password in the cloud","succeeded":{ok},"authenticationStepResultDetail":"Correct password","authenticationStepRequirement":"Primary authentication"}}],"authenticationRequirementPolicies":[],"sessionLifetimePolicies":[]}}"#,
        day = 1 + n % 28,
        hour = n % 24,
        minute = n % 60,
        second = (n / 60) % 60,
        frac = n % 10_000_000,
        a = n % 250,
        b = (n / 250) % 250,
        ms = n % 900,
        ok = !failed,
    )
}
